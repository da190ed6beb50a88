"""Helpers for the tests and benchmarks: tiny model configs, and (server.py) the app served to a real browser."""
