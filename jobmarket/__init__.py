"""Shared protocol code for requesters and providers: job spec, content addressing, contract access."""
