"""The node's read-only HTTP API (``run --api-listen``): job views and requester-signed logs."""
