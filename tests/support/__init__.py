"""Helpers shared by test suites (import with ``tests/`` on ``sys.path``: ``support.node``)."""
