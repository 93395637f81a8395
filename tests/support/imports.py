"""Importing a package whole, at collection."""

from __future__ import annotations

import importlib
import pkgutil


def import_everything(package: str) -> None:
    """Import every module of ``package`` now. Pytest rewrites the assertions of a plugin's
    modules (schemathesis is one) as they are first imported; done during a test, while other
    threads of the worker (Ray's, servers') run, CPython 3.11's shared AST state once failed
    it with "SystemError: AST constructor recursion depth mismatch"."""
    root = importlib.import_module(package)
    for module in pkgutil.walk_packages(root.__path__, f"{package}."):
        try:
            importlib.import_module(module.name)
        except ImportError:  # a module of an optional extra that is not installed
            continue
