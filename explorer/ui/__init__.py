"""The Streamlit dashboard's pages (the only package besides ``dashboard.py`` that imports streamlit).

``explorer/__init__.py`` never imports this package. ``dashboard.py`` routes to each page module's ``page()``;
``common`` holds the cached accessors every page shares.
"""
