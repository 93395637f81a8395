"""The platform's routes, one module per resource."""
