"""The wish ledger: a tamper-evident, stake-weighted, append-only log of signed wishes.

The verification API (RFC 6962 / RFC 9162) is public so that anyone can check
proofs and checkpoints without trusting the operator::

    from charter.ledger import leaf_hash, verify_inclusion
    verify_inclusion(leaf_hash(entry_bytes), index, tree_size, proof, root)  # raises if bad

See ``DESIGN.md`` beside this file for how the modules fit together.
"""

from charter.ledger.checkpoint import (
    Checkpoint,
    LogKey,
    load_key,
    save_key,
    sign_checkpoint,
    verify_checkpoint,
)
from charter.ledger.cosign import WitnessKey, detect_split_view, verify_cosignatures
from charter.ledger.ed25519 import verify_strict
from charter.ledger.entry import (
    Entry,
    EntryPolicy,
    Wish,
    commit_author,
    parse_entry,
    prove_authorship,
    sign_entry,
    validate_entry,
    verify_entry_signature,
)
from charter.ledger.log import ImportResult, Ledger
from charter.ledger.tiles import verify_tiles
from charter.ledger.verify import VerifyReport, pinned_verifier, verify_export
from charter.merkle import (
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    node_hash,
    root_hash,
    verify_consistency,
    verify_inclusion,
)

__all__ = [
    "Checkpoint",
    "Entry",
    "EntryPolicy",
    "ImportResult",
    "Ledger",
    "LogKey",
    "VerifyReport",
    "Wish",
    "WitnessKey",
    "commit_author",
    "consistency_proof",
    "detect_split_view",
    "inclusion_proof",
    "leaf_hash",
    "load_key",
    "node_hash",
    "parse_entry",
    "pinned_verifier",
    "prove_authorship",
    "root_hash",
    "save_key",
    "sign_checkpoint",
    "sign_entry",
    "validate_entry",
    "verify_checkpoint",
    "verify_consistency",
    "verify_cosignatures",
    "verify_entry_signature",
    "verify_export",
    "verify_inclusion",
    "verify_strict",
    "verify_tiles",
]
