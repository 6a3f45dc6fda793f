"""Content addressing: Kubo-identical UnixFS CIDs, a verified local blockstore, a Kubo client.

Start with :func:`open_store` (embedded store unless ``IPFS_API`` is set) and
:class:`Cid`; :class:`Importer` computes CIDs without storing anything.
"""

from jobmarket.content.cid import DAG_PB, RAW, Cid
from jobmarket.content.importer import ImportedNode, Importer, ImportParams
from jobmarket.content.store import ContentStore, open_store

__all__ = [
    "DAG_PB",
    "RAW",
    "Cid",
    "ContentStore",
    "ImportParams",
    "ImportedNode",
    "Importer",
    "open_store",
]
