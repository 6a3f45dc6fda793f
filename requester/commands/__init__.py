"""Command modules of the ``requester`` CLI; each exposes ``COMMANDS``."""
