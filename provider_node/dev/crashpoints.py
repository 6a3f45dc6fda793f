"""TEST HOOK: let the node SIGKILL itself at a named point, to prove crash recovery.

Inactive unless ``JOBMARKET_NODE_CRASH_AT`` is set. Its value is ``POINT`` or ``POINT:JOB_ID``;
the node kills itself (``SIGKILL``: no cleanup, no flushing beyond what was journaled) the
first time it reaches that point (for that job). Tests restart the node without the
variable and check that the job completes exactly once.

Points, in the order a job meets them:

=================  ==========================================================================
``claim-signed``   the claim transaction is journaled (raw bytes, nonce, hash), not yet sent
``claimed``        the claim is mined and the job journaled as ``claimed``
``running``        the container has started and the job is journaled as ``running``
``pinned``         the result directory is pinned and its CID journaled, before submitting
``submit-signed``  the submit transaction is journaled, not yet sent
``submitted``      the submit is mined and journaled, before the container is removed
=================  ==========================================================================
"""

from __future__ import annotations

import logging
import os
import signal
import sys

from provider_node.context.logs import emit

CRASH_ENV = "JOBMARKET_NODE_CRASH_AT"
POINTS = ("claim-signed", "claimed", "running", "pinned", "submit-signed", "submitted")

log = logging.getLogger("provider_node")


def crash_point(point: str, job_id: int | None = None) -> None:
    """SIGKILL this process if the test hook names ``point`` (and ``job_id``, if given)."""
    wanted = os.environ.get(CRASH_ENV)
    if not wanted:
        return
    name, _, job = wanted.partition(":")
    if name != point or (job and job_id is not None and job != str(job_id)):
        return
    emit(log, "test-hook-crash", logging.WARNING, point=point, job=job_id, hook=CRASH_ENV)
    for handler in logging.getLogger().handlers:
        handler.flush()
    sys.stderr.flush()
    os.kill(os.getpid(), signal.SIGKILL)
