"""The data card of a mix: what went in and why, as JSON and as markdown.

A card records the counts by class, article, style and mode (placement), the
classifier's threshold and its held-out agreement with the judge, the models,
the constitution hash, the ledger checkpoint root when wishes were used, and
the manifest's Merkle root and size, so a reader can check that the card
describes exactly the documents in ``docs.jsonl`` (``charter pretrain verify``),
and ``identical_to`` / ``warnings``: the other mixes of the run with the same
root, and why (:func:`charter.pretrain.mix.identical_reason`).
"""

from __future__ import annotations

from collections import Counter
from typing import Any


class CardCounter:
    """Tallies of a mix's documents, filled while the mix is written."""

    def __init__(self) -> None:
        self.by_class: Counter[str] = Counter()
        self.by_article: Counter[str] = Counter()
        self.by_style: Counter[str] = Counter()
        self.by_mode: Counter[str] = Counter()
        self.dropped: Counter[str] = Counter()
        self.depths: list[float] = []
        self.tokens = 0

    def add(self, row: dict[str, Any]) -> None:
        self.by_class[row["class"]] += 1
        if row.get("article"):
            self.by_article[row["article"]] += 1
        self.by_style[row.get("style") or "none"] += 1
        self.by_mode[row["mode"]] += 1
        if row.get("depth") is not None:
            self.depths.append(float(row["depth"]))
        self.tokens += len(row["text"].split())

    def to_dict(self) -> dict[str, Any]:
        return {
            "documents": sum(self.by_class.values()),
            "words": self.tokens,
            "by_class": dict(sorted(self.by_class.items())),
            "by_article": dict(sorted(self.by_article.items())),
            "by_style": dict(sorted(self.by_style.items())),
            "by_mode": dict(sorted(self.by_mode.items())),
            "dropped": dict(sorted(self.dropped.items())),
            "mean_reflection_depth": (sum(self.depths) / len(self.depths) if self.depths else None),
            "scored_reflections": len(self.depths),
        }


def render_markdown(card: dict[str, Any]) -> str:
    """The card as a markdown page (the JSON is the source of truth)."""
    counts = card["counts"]
    lines = [
        f"# Data card: mix `{card['mix']}`",
        "",
        f"- strategy: **{card['strategy']}**, placement: {card.get('placement') or '-'}, "
        f"style: {card.get('style') or '-'}, dilemmas: {card.get('dilemmas')}",
        f"- {counts['documents']} documents, {counts['words']} words",
        f"- constitution: `{card['constitution_hash']}`",
        f"- ledger checkpoint: {card.get('ledger_checkpoint') or 'none (no wishes used)'}",
        f"- Merkle root (RFC 6962, {card['manifest']['size']} leaves): "
        f"`{card['manifest']['root']}`",
        f"- config: `{card['config_hash']}`, created {card['created_at']}",
        "",
        f"{card['description']}",
        "",
    ]
    # A mix identical to another is stated at the top, so no one trains or
    # compares the two as if they were distinct arms of an ablation.
    for warning in card.get("warnings") or []:
        lines += [f"> **Warning:** {warning}.", ""]
    for title, key in (
        ("Class", "by_class"),
        ("Mode", "by_mode"),
        ("Reflection style", "by_style"),
        ("Article", "by_article"),
        ("Dropped", "dropped"),
    ):
        lines += [f"## {title}", "", "| value | documents |", "|---|---|"]
        lines += [f"| {k} | {v} |" for k, v in counts[key].items()] or ["| - | 0 |"]
        lines.append("")
    depth = counts.get("mean_reflection_depth")
    lines += ["## Classifier and models", ""]
    classifier = card.get("classifier") or {}
    agreement = (classifier.get("agreement") or {}).get("accuracy")
    lines.append(f"- threshold P(harmful) >= {classifier.get('threshold')}")
    lines.append(
        f"- embedding classifier held-out agreement with the judge: "
        f"{'n/a' if agreement is None else f'{agreement:.3f}'} "
        f"(n={(classifier.get('agreement') or {}).get('n', 0)})"
    )
    for role, model in (card.get("models") or {}).items():
        lines.append(f"- {role}: `{model}`")
    if depth is not None:
        lines.append(f"- mean reflection depth (rubric, 0-1): {depth:.3f}")
    lines += ["", "Verify: `charter pretrain verify <this folder>`.", ""]
    return "\n".join(lines)
