"""Helpers shared by tests in several folders (on sys.path through pytest's pythonpath)."""
