"""Benchmarks: each prints its figures as name=value lines (``make bench`` runs them all)."""
