"""Accept a job's submitted result: the provider gets paid.

ape run accept --network ethereum:local:foundry JOB [--account ALIAS] [--json]
"""

from requester.ape_support import job_action_script

cli = job_action_script("accept", __doc__)
