"""Article-level differences between two constitutions."""

from __future__ import annotations

from dataclasses import dataclass, field

from charter.constitution.model import Constitution

_FIELDS = (
    "title",
    "rule",
    "rationale",
    "critique_request",
    "revision_request",
    "examples",
    "conflicts",
)


@dataclass(frozen=True)
class ConstitutionDiff:
    """What changed from ``old`` to ``new``, article by article."""

    old_hash: str
    new_hash: str
    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    changed: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def identical(self) -> bool:
        return self.old_hash == self.new_hash

    def to_dict(self) -> dict:
        return {
            "old_hash": self.old_hash,
            "new_hash": self.new_hash,
            "identical": self.identical,
            "added": list(self.added),
            "removed": list(self.removed),
            "changed": {k: list(v) for k, v in self.changed.items()},
        }


def diff_constitutions(old: Constitution, new: Constitution) -> ConstitutionDiff:
    """Compare by article id; report the fields that changed in each shared article."""
    old_by_id = {a.id: a for a in old.articles}
    new_by_id = {a.id: a for a in new.articles}
    changed: dict[str, tuple[str, ...]] = {}
    for article_id in old_by_id.keys() & new_by_id.keys():
        a, b = old_by_id[article_id], new_by_id[article_id]
        fields = tuple(f for f in _FIELDS if getattr(a, f) != getattr(b, f))
        if fields:
            changed[article_id] = fields
    return ConstitutionDiff(
        old_hash=old.hash,
        new_hash=new.hash,
        added=tuple(i for i in new_by_id if i not in old_by_id),
        removed=tuple(i for i in old_by_id if i not in new_by_id),
        changed=dict(sorted(changed.items())),
    )
