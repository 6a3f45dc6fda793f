"""Human durations and times (``10m``, ``in 9m 12s``): kept in :mod:`jobmarket.durations`,
shared with the provider node; re-exported here for the requester's modules."""

from jobmarket.durations import (
    format_duration,
    format_relative,
    format_time,
    iso_time,
    parse_duration,
)

__all__ = ["format_duration", "format_relative", "format_time", "iso_time", "parse_duration"]
