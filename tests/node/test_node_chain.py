"""The node's chain plumbing against a real anvil, in-process: the event cursor survives reorgs
and refused log ranges, confirmations hold events back, and the signer never loses or repeats
a transaction (nonce gaps filled, reorged-out transactions sent again)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from node_world import Market

from jobmarket.chain.accounts import test_account as dev_account
from jobmarket.chain.client import ZERO_ADDRESS, MarketClient, MarketEvent
from provider_node.chain.events import Ledger
from provider_node.chain.follower import ChainFollower
from provider_node.chain.signer import TxManager
from provider_node.journal.store import Journal, TxRecord, TxStatus
from provider_node.lifecycle.reorg import tx_still_right


class Recorder:
    """Collects what a follower hands out."""

    def __init__(self) -> None:
        self.events: list[MarketEvent] = []
        self.reorgs: list[int] = []

    def on_events(self, events: list[MarketEvent]) -> None:
        self.events.extend(events)

    def on_reorg(self, fork: int) -> None:
        self.reorgs.append(fork)


class RangeLimitedClient(MarketClient):
    """FAKE (labelled): a public RPC that refuses eth_getLogs ranges above ``limit`` blocks,
    as Infura or Alchemy do. anvil has no such limit, so the refusal is imitated here; the
    logs themselves still come from the real anvil."""

    def __init__(self, client: MarketClient, limit: int) -> None:
        super().__init__(client.w3, client.address, client.deployment)
        self.limit = limit
        self.refused = 0

    def events(self, from_block, to_block="latest", **filters):  # type: ignore[override]
        if int(to_block) - int(from_block) + 1 > self.limit:
            self.refused += 1
            raise ValueError(f"query exceeds max block range {self.limit}")
        return super().events(from_block, to_block, **filters)


def _post(market: Market, label: str) -> int:
    return market.post(digest=hashlib.sha256(label.encode()).digest())


def _follower(market: Market, journal: Journal, recorder: Recorder, **options) -> ChainFollower:
    return ChainFollower(
        options.pop("client", market.client),
        journal,
        start_block=market.first_block,
        on_events=recorder.on_events,
        on_reorg=recorder.on_reorg,
        **options,
    )


@pytest.fixture
def journal(tmp_path: Path) -> Journal:
    return Journal(tmp_path / "journal.sqlite3")


def test_a_reorg_rewinds_the_cursor_and_the_new_branch_is_read(
    market: Market, journal: Journal
) -> None:
    recorder = Recorder()
    ledger = Ledger(journal, dev_account(1).address)
    follower = _follower(market, journal, recorder)
    follower.on_events = lambda events: (recorder.on_events(events), ledger.apply(events))
    job_id = _post(market, "branch A")
    follower.poll()
    orphaned_block = market.w3.eth.block_number
    # Replace the block holding "branch A" by one posting "branch B" (same job id).
    requester = dev_account(0)
    rival = market.client.build(
        "post_job", hashlib.sha256(b"branch B").digest(), ZERO_ADDRESS,
        market.now() + 600, 600, 60, sender=requester.address, value=10**16,
        nonce=market.w3.eth.get_transaction_count(requester.address) - 1,
    )  # fmt: skip
    raw = requester.sign_transaction(rival).raw_transaction
    market.w3.provider.make_request("anvil_reorg", [1, [["0x" + raw.hex(), 0]]])

    follower.poll()

    posted = [e for e in recorder.events if e.name == "JobPosted" and e.job_id == job_id]
    assert recorder.reorgs == [orphaned_block]
    assert [bytes(e.args["spec_digest"]) for e in posted] == [
        hashlib.sha256(b"branch A").digest(),
        hashlib.sha256(b"branch B").digest(),
    ]
    assert posted[0].block_hash != posted[1].block_hash
    assert journal.job(job_id).spec_digest == hashlib.sha256(b"branch B").digest()
    assert journal.next_block(0) == market.w3.eth.block_number + 1


def test_a_transaction_dropped_by_a_reorg_is_sent_again(
    market: Market, journal: Journal, tmp_path: Path
) -> None:
    account = dev_account(4)
    txs = TxManager(market.client, account, journal, tmp_path / "signer.lock", rebroadcast_s=1)
    recorder = Recorder()
    follower = _follower(market, journal, recorder)

    # An account move (no job) is always still right: lifecycle.reorg.tx_still_right says so.
    def resend(record: TxRecord) -> bool:
        return tx_still_right(record, None, account.address)

    follower.on_reorg = lambda fork: (
        recorder.on_reorg(fork),
        txs.recheck_after_reorg(fork, resend),
    )
    follower.poll()
    mined = txs.transact("register", hashlib.sha256(b"capabilities").digest())
    follower.poll()
    market.w3.provider.make_request("anvil_reorg", [1, []])  # its block is replaced: gone
    assert market.client.provider_info(account.address).registered is False

    follower.poll()
    txs.confirm_sent(older_than_s=0)

    record = journal.tx(mined.record.id)
    assert recorder.reorgs == [mined.record.block_number]
    assert record.status == TxStatus.MINED and record.hash == mined.record.hash
    assert market.client.provider_info(account.address).registered is True
    receipt = market.w3.eth.get_transaction_receipt(record.hash)
    assert receipt["blockNumber"] == record.block_number


def test_refused_log_ranges_shrink_and_every_event_arrives_once_in_order(
    market: Market, journal: Journal
) -> None:
    first = _post(market, "before the gap")
    market.mine(300)
    last = _post(market, "after the gap")
    limited = RangeLimitedClient(market.client, limit=50)
    recorder = Recorder()
    follower = _follower(market, journal, recorder, client=limited, initial_span=1000)

    while not follower.poll().caught_up:
        pass

    posted = [e.job_id for e in recorder.events if e.name == "JobPosted"]
    assert posted == sorted(set(posted)) and {first, last} <= set(posted)
    assert 1 <= limited.refused <= 12  # settles under the limit instead of oscillating
    assert 25 <= follower.span <= 50


def test_confirmations_hold_events_until_they_are_buried(market: Market, journal: Journal) -> None:
    recorder = Recorder()
    follower = _follower(market, journal, recorder, confirmations=3)
    job_id = _post(market, "must be buried")

    follower.poll()
    early = [e.job_id for e in recorder.events]
    market.mine(3)
    follower.poll()

    assert job_id not in early
    assert job_id in [e.job_id for e in recorder.events]


def test_a_signed_but_unsent_transaction_is_sent_before_the_next_nonce(
    market: Market, journal: Journal, tmp_path: Path
) -> None:
    """A crash between journaling a transaction and sending it must not leave a nonce gap."""
    account = dev_account(5)
    txs = TxManager(market.client, account, journal, tmp_path / "signer.lock")
    nonce = market.w3.eth.get_transaction_count(account.address, "pending")
    params = market.client.build(
        "register", hashlib.sha256(b"journaled only").digest(), sender=account.address,
        nonce=nonce,
    )  # fmt: skip
    signed = account.sign_transaction(params)
    journal.add_tx(job_id=None, function="register", args=[], value=0, nonce=nonce,
                   raw=bytes(signed.raw_transaction), tx_hash=signed.hash.to_0x_hex())  # fmt: skip

    second = txs.transact("register", hashlib.sha256(b"next").digest())

    assert second.record.nonce == nonce + 1
    assert market.w3.eth.get_transaction_receipt(signed.hash)["status"] == 1
    assert market.w3.eth.get_transaction_count(account.address) == nonce + 2


def test_event_decoding_gives_exactly_what_web3_gives(market: Market) -> None:
    """The node decodes thousands of logs when catching up, with eth_abi directly; the result
    must be identical to web3's own ``process_log`` for every kind of event."""
    requester, provider = dev_account(0), dev_account(6)
    client = market.client
    client.transact(provider, "register", hashlib.sha256(b"caps").digest(), value=10**18)
    client.transact(provider, "deposit_stake", value=10**17)
    given_back = _post(market, "to abandon")
    client.transact(provider, "claim", given_back)
    client.transact(provider, "abandon", given_back)
    done = _post(market, "to accept")
    client.transact(provider, "claim", done)
    client.transact(provider, "submit_result", done, hashlib.sha256(b"result").digest())
    client.transact(requester, "accept", done)
    client.transact(requester, "cancel", _post(market, "to cancel"))
    client.transact(provider, "withdraw_stake", 10**16)

    logs = market.w3.eth.get_logs({"address": client.address, "fromBlock": 0, "toBlock": "latest"})
    decoded = [client.decode(log) for log in logs]
    by_web3 = [
        dict(getattr(client.contract.events, event.name)().process_log(log)["args"])
        for event, log in zip(decoded, logs, strict=True)
    ]

    names = {event.name for event in decoded}
    assert {"JobPosted", "JobClaimed", "JobAbandoned", "ResultSubmitted", "JobAccepted",
            "JobCanceled", "ProviderRegistered", "StakeDeposited", "StakeWithdrawn",
            "Paid"} <= names  # fmt: skip
    for ours, theirs in zip(decoded, by_web3, strict=True):
        assert ours.args == theirs, ours.name
        assert [type(v) for v in ours.args.values()] == [type(v) for v in theirs.values()]
