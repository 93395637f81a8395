"""``fti server``: the platform's REST API over the stores, with projects, users, keys and roles."""
