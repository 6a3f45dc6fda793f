"""Reclaim a job past its claim or work deadline; the price (and collateral) comes back.

ape run reclaim --network ethereum:local:foundry JOB [--account ALIAS] [--json]
"""

from requester.ape_support import job_action_script

cli = job_action_script("reclaim", __doc__)
