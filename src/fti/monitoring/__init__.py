"""Monitoring: feature and prediction drift, model quality over time, reports."""
