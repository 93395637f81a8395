"""Inference pipelines: batch predictions and the predictor behind the HTTP server."""
