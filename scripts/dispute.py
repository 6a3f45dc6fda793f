"""Dispute a job's submitted result within the review window; the arbiter settles it.

ape run dispute --network ethereum:local:foundry JOB [--reason TEXT] [--account ALIAS] [--json]
"""

from requester.ape_support import job_action_script

cli = job_action_script("dispute", __doc__)
