"""Shared protocol code for requesters and providers.

Job spec, content addressing and contract access live here, imported by both sides.
"""
