"""Resolve a disputed job as the market's arbiter, before the arbiter's deadline.

ape run resolve --network ethereum:local:foundry JOB --provider-share 70% --account ARBITER
"""

from requester.ape_support import job_action_script

cli = job_action_script("resolve", __doc__)
