"""A drafted article's citations as a reader checks them: quoted text, leaf, proof.

:func:`check_citation` is the one place the collective's page and the run
report turn a citation from ``draft_citations.json`` into what they show: the
quoted wish text, its ledger entry and leaf index, whether its RFC 6962
inclusion proof leads to the root (RFC 9162 section 2.1.3.2), and whether the
quote is bound to that leaf. When the citation carries the entry's bytes and
the quote's hash, :func:`charter.collective.draft.verify_citation` checks all
of it; an older citation without them gets the inclusion proof checked here
(:func:`charter.merkle.verify_inclusion`) and reads "not bound".
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from charter.collective.results import Citation
from charter.errors import VerificationError
from charter.merkle import verify_inclusion

Binding = Literal["bound", "mismatch", "not bound"]


class CitationView(BaseModel):
    """What a page shows for one citation."""

    model_config = ConfigDict(frozen=True)

    quote: str  # the quoted scenario and behaviour
    entry_id: str
    leaf_index: int
    tree_size: int
    proof_length: int
    proof_verifies: bool
    binding: Binding = "not bound"
    reason: str = ""  # the verifier's words: what was checked, or what failed


def check_citation(cite: Citation, root: str) -> CitationView:
    """Check one citation against ``root`` (hex); never raises for a bad proof or quote."""
    try:
        verify_inclusion(
            bytes.fromhex(cite.entry_id),
            cite.leaf_index,
            cite.tree_size,
            [bytes.fromhex(h) for h in cite.audit_path],
            bytes.fromhex(root),
        )
        proof_ok, reason = True, "proof verified; the quote is not bound to the leaf"
    except (VerificationError, ValueError) as exc:
        proof_ok, reason = False, str(exc)
    binding: Binding = "not bound"
    bound = _bound_check(cite, root)
    if bound is not None:
        ok, reason = bound
        binding = "bound" if ok else "mismatch"
    return CitationView(
        quote="\n".join(t for t in (cite.scenario, cite.behaviour) if t),
        entry_id=cite.entry_id,
        leaf_index=cite.leaf_index,
        tree_size=cite.tree_size,
        proof_length=len(cite.audit_path),
        proof_verifies=proof_ok,
        binding=binding,
        reason=reason,
    )


def _bound_check(cite: Citation, root: str) -> tuple[bool, str] | None:
    """``(ok, reason)`` from the drafter's own check, or None where it cannot run.

    The one call to wire to :func:`charter.collective.draft.verify_citation`.
    """
    from charter.collective import draft

    strict = getattr(draft, "Citation", None)
    verify = getattr(draft, "verify_citation", None)
    if strict is None or verify is None or cite.entry is None or cite.quote_sha256 is None:
        return None
    try:
        checked = verify(strict.model_validate(cite.model_dump()), root)
    except ValidationError:
        return None
    return bool(checked.ok), str(checked.reason)


__all__ = ["CitationView", "check_citation"]
