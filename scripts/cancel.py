"""Cancel a job nobody has claimed; the price is refunded.

ape run cancel --network ethereum:local:foundry JOB [--account ALIAS] [--json]
"""

from requester.ape_support import job_action_script

cli = job_action_script("cancel", __doc__)
