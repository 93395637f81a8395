"""The web UI: server-rendered pages over a project's services (ADR 0011).

``routes`` holds the pages (a FastAPI router whose routes declare their access like the API's),
``pages`` gathers what each page shows from a :class:`fti.Project`, ``graph`` draws a view's
query and a model's lineage as SVG, ``session`` the sign-in cookie and the CSRF token, ``app``
the app of ``fti ui`` on the embedded stores.
"""
