"""Close a dispute the arbiter left past its deadline (anyone may): a 50/50 split, no slash.

ape run close_dispute --network ethereum:local:foundry JOB [--account ALIAS] [--json]
"""

from requester.ape_support import job_action_script

cli = job_action_script("close_dispute", __doc__)
