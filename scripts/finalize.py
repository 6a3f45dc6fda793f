"""Finalize a submitted job after its review window (anyone may): the provider is paid.

ape run finalize --network ethereum:local:foundry JOB [--account ALIAS] [--json]
"""

from requester.ape_support import job_action_script

cli = job_action_script("finalize", __doc__)
