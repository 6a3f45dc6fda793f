"""Two providers claiming the same job in the same block: exactly one wins."""

from ape import chain
from contract_helpers import COLLATERAL

from jobmarket.chain.reasons import Revert
from jobmarket.chain.states import JobState

CLAIM_GAS = 200_000


def send_unmined(market, job_id, account) -> str:
    """Sign and submit a claim without waiting for it (ape would wait for the receipt)."""
    txn = market.claim.as_transaction(job_id, sender=account, gas=CLAIM_GAS)
    signed = account.sign_transaction(txn)
    return chain.provider.web3.eth.send_raw_transaction(signed.serialize_transaction()).hex()


def test_two_claims_in_one_block_exactly_one_wins(market, jobs, provider, provider2):
    job_id = jobs.post()
    block_before = chain.blocks.head.number

    # Queue both claims, then mine them together.
    chain.provider.auto_mine = False
    try:
        hashes = {
            account.address: send_unmined(market, job_id, account)
            for account in (provider, provider2)
        }
        chain.provider.make_request("anvil_mine", [1])
    finally:
        chain.provider.auto_mine = True

    receipts = {address: chain.get_receipt(txn_hash) for address, txn_hash in hashes.items()}
    assert {receipt.block_number for receipt in receipts.values()} == {block_before + 1}
    winners = [address for address, receipt in receipts.items() if not receipt.failed]
    losers = [address for address, receipt in receipts.items() if receipt.failed]
    assert len(winners) == 1 and len(losers) == 1

    assert receipts[losers[0]].trace.revert_message == Revert.JOB_NOT_OPEN
    job = market.get_job(job_id)
    assert (JobState(job.state), job.provider) == (JobState.CLAIMED, winners[0])
    assert market.provider_info(winners[0]).locked == COLLATERAL
    assert market.provider_info(losers[0]).locked == 0
