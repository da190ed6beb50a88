"""The Streamlit dashboard's pages (the only package besides ``dashboard.py`` that imports streamlit).

``explorer/__init__.py`` never imports this package; ``dashboard.py`` routes to the scripts in ``pages/``,
each of which calls one module's ``render()``.
"""
