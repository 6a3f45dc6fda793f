"""Kubo's deterministic test data, reproduced for our tests."""

import hashlib
from pathlib import Path

from Crypto.Cipher import ChaCha20

# A copy of shared/vectors/kubo-unixfs-cids.json kept in the repository so a fresh clone can
# run the tests; test_vectors_copy_matches_shared catches drift from the shared original.
VECTORS_FILE = Path(__file__).with_name("data") / "kubo-unixfs-cids.json"
SHARED_VECTORS = [
    Path(__file__).resolve().parents[3] / "shared" / "vectors" / "kubo-unixfs-cids.json",
    Path("/work/shared/vectors/kubo-unixfs-cids.json"),
]


def chacha20_stream(seed: str, size: int) -> bytes:
    """Kubo's DeterministicRandomReader: ChaCha20 keystream, key sha256(seed), zero nonce."""
    cipher = ChaCha20.new(key=hashlib.sha256(seed.encode()).digest(), nonce=bytes(8))
    return cipher.encrypt(bytes(size))
