"""Draft a constitution from the ledger: one article per opinion group, with proofs.

Issue 4, point 5. The wishes are grouped (:mod:`charter.collective.groups`);
for each group the feedback model is shown the wishes nearest its centroid,
labelled ``w1``, ``w2``, ... (short labels a small model copies reliably), and
asked for one article as JSON (:data:`DRAFT_TEMPLATE`): a title, a rule, a
rationale, conflict guidance, and the labels of the wishes it drew on. A reply
that does not parse is retried once with a stricter prompt
(:data:`STRICT_SUFFIX`); a second failure becomes an error row with the raw
text, retried on the next run.

Every cited wish carries its RFC 6962 inclusion proof against the checkpoint
the wishes were read at (leaf index, tree size, hex audit path), so anyone can
check offline that an article's sources are in the signed log
(``charter.ledger.verify_inclusion``; :func:`verify_citations` does it).

The drafted constitution is written as YAML that ``charter constitution
validate`` accepts. A constitution's articles have no field for sources, so
the citations and proofs go beside it, in ``draft_citations.json``. The
conflict guidance is attached to the drafted article nearest in embedding
space (the one it most plausibly collides with).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from charter._util.progress import progress_bar
from charter.backends.base import Embedder, GenerateParams
from charter.collective.groups import Grouping, nearest_to_centroid
from charter.collective.wishes import WishRecord, WishSet
from charter.constitution import Constitution, parse_constitution
from charter.errors import CharterError, MalformedOutputError
from charter.merkle import verify_inclusion
from charter.runs.store import JsonlStore, append_error

#: The drafting request; ``{wishes}`` is the labelled list of wishes.
DRAFT_TEMPLATE = """\
People deposited the wishes below in a public ledger. Each says how they want an AI \
assistant to behave in a situation.

{wishes}

Draft ONE article of a constitution for the assistant that captures what these wishes \
share. Reply with a JSON object with these keys:
"title": a short name (a few words),
"rule": one or two sentences saying what the assistant should do,
"rationale": two or three sentences explaining why the rule matters,
"conflict_guidance": one sentence on how to weigh this rule against other concerns,
"cites": the labels of the wishes the article draws on, for example ["w1", "w3"]."""

#: Appended for the single retry after a reply that could not be parsed.
STRICT_SUFFIX = """

Your previous reply could not be read. Output ONLY the JSON object: start with {{ and end \
with }}, use exactly the keys title, rule, rationale, conflict_guidance, cites, and write \
nothing else."""

WISH_LINE = "[{label}] Situation: {scenario} Wanted behaviour: {behaviour}"
FIELDS = ("title", "rule", "rationale", "conflict_guidance")
MAX_WISH_CHARS = 320  # per wish shown: keeps the prompt short on CPU


@dataclass(frozen=True)
class DraftedArticle:
    """One parsed draft: fields, and the entry ids of the wishes it cites."""

    title: str
    rule: str
    rationale: str
    conflict_guidance: str
    cites: list[str]
    cites_inferred: bool  # True when the reply cited no shown wish, so all shown are cited


def _short(text: str, limit: int = MAX_WISH_CHARS) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rsplit(" ", 1)[0] + "…"


def draft_prompt(wishes: Sequence[WishRecord], template: str = DRAFT_TEMPLATE) -> str:
    """The drafting request for a group's representative wishes (labelled w1, w2, ...)."""
    lines = [
        WISH_LINE.format(
            label=f"w{i + 1}", scenario=_short(w.scenario), behaviour=_short(w.behaviour)
        )
        for i, w in enumerate(wishes)
    ]
    return template.format(wishes="\n".join(lines))


def parse_draft(text: str, shown: Sequence[WishRecord]) -> DraftedArticle:
    """Read a drafted article from a reply; cited labels become entry ids.

    Raises:
        MalformedOutputError: no JSON object, or a field missing or empty.
    """
    start, end = text.find("{"), text.rfind("}")
    if start < 0 or end <= start:
        raise MalformedOutputError("the draft has no JSON object", raw=text)
    try:
        data = json.loads(text[start : end + 1])
    except ValueError as exc:
        raise MalformedOutputError(f"the draft is not valid JSON ({exc})", raw=text) from None
    if not isinstance(data, dict):
        raise MalformedOutputError("the draft is not a JSON object", raw=text)
    values = {}
    for name in FIELDS:
        value = data.get(name)
        if not isinstance(value, str) or not value.strip():
            raise MalformedOutputError(f"the draft's {name!r} is missing or empty", raw=text)
        values[name] = " ".join(value.split())
    labels = data.get("cites")
    labels = labels if isinstance(labels, list) else []
    cited = []
    for label in labels:
        match = re.fullmatch(r"\[?w?(\d+)\]?", str(label).strip().lower())
        if match and 1 <= int(match.group(1)) <= len(shown):
            entry_id = shown[int(match.group(1)) - 1].entry_id
            if entry_id not in cited:
                cited.append(entry_id)
    inferred = not cited
    return DraftedArticle(
        **values, cites=cited or [w.entry_id for w in shown], cites_inferred=inferred
    )


def draft_article(
    model: Any, shown: Sequence[WishRecord], seed: int, max_tokens: int = 320
) -> tuple[DraftedArticle, int, list[str]]:
    """Ask for a draft, retrying once with the stricter prompt; return it, attempts, raws.

    Raises:
        MalformedOutputError: both replies unusable (``raw`` holds both).
    """
    raws: list[str] = []
    for attempt, template in enumerate((DRAFT_TEMPLATE, DRAFT_TEMPLATE + STRICT_SUFFIX)):
        params = GenerateParams(max_tokens=max_tokens, temperature=0.0, seed=seed + attempt)
        messages = [{"role": "user", "content": draft_prompt(shown, template)}]
        text = model.generate(messages, params).text
        raws.append(text)
        try:
            return parse_draft(text, shown), attempt + 1, raws
        except MalformedOutputError:
            continue
    raise MalformedOutputError("the draft could not be parsed after a stricter retry", raw=raws)


def group_key(group: int, members: Sequence[WishRecord]) -> str:
    """A draft row's key: the group and a hash of its members (a regrouping redrafts)."""
    digest = hashlib.sha256("\n".join(sorted(w.entry_id for w in members)).encode()).hexdigest()
    return f"group-{group}-{digest[:12]}"


def citation(wishes: WishSet, record: WishRecord) -> dict[str, Any]:
    """A cited wish with its inclusion proof against the set's checkpoint."""
    return {
        "entry_id": record.entry_id,
        "leaf_index": record.index,
        "tree_size": wishes.size,
        "audit_path": [h.hex() for h in wishes.inclusion_proof(record.index)],
        "scenario": record.scenario,
        "behaviour": record.behaviour,
    }


def verify_citations(citations: dict[str, Any]) -> int:
    """Check every cited wish's proof against the root in ``citations``; return how many.

    Raises:
        VerificationError: a proof does not lead to the root (the ledger's own error).
    """
    root = bytes.fromhex(citations["root"])
    count = 0
    for article in citations["articles"]:
        for cited in article["cites"]:
            verify_inclusion(
                bytes.fromhex(cited["entry_id"]),
                cited["leaf_index"],
                cited["tree_size"],
                [bytes.fromhex(h) for h in cited["audit_path"]],
                root,
            )
            count += 1
    return count


def run_drafting(
    wishes: WishSet,
    grouping: Grouping,
    weights: Sequence[float],
    model: Any,
    store: JsonlStore,
    errors_path: Path,
    seed_for: Callable[[str], int],
    provenance: Callable[[str, int], dict],
    max_articles: int = 8,
    shown: int = 6,
    max_tokens: int = 320,
    progress: bool = True,
) -> int:
    """Draft an article for each of the ``max_articles`` groups with most stake; failures."""
    w = np.asarray(weights, dtype=np.float64)
    stake = [float(w[grouping.labels == g].sum()) for g in range(grouping.k)]
    order = sorted(range(grouping.k), key=lambda g: -stake[g])[:max_articles]
    todo = []
    for g in order:
        members = [wishes.records[i] for i in np.flatnonzero(grouping.labels == g)]
        if group_key(g, members) not in store:
            todo.append((g, members))
    failed = 0
    with progress_bar("collective: draft articles", len(todo), progress) as bar:
        for g, members in todo:
            failed += _draft_group(
                wishes,
                grouping,
                g,
                members,
                stake[g],
                model,
                store,
                errors_path,
                seed_for,
                provenance,
                shown,
                max_tokens,
            )
            bar.advance()
    return failed


def _draft_group(
    wishes,
    grouping,
    g,
    members,
    stake,
    model,
    store,
    errors_path,
    seed_for,
    provenance,
    shown,
    max_tokens,
) -> int:
    """Draft one group's article into ``store``; 1 if it failed (error row written), else 0."""
    key = group_key(g, members)
    representatives = [wishes.records[i] for i in nearest_to_centroid(grouping, g, shown)]
    seed = seed_for(key)
    try:
        article, attempts, raws = draft_article(model, representatives, seed, max_tokens)
    except CharterError as exc:
        _error(errors_path, key, exc, provenance(model.model_id, seed))
        return 1
    store.add(
        {
            "key": key,
            "group": g,
            "group_size": len(members),
            "group_stake": stake,
            "shown": [r.entry_id for r in representatives],
            **article.__dict__,
            "attempts": attempts,
            "raw": raws[-1],
            "model_id": model.model_id,
            "provenance": provenance(model.model_id, seed),
        }
    )
    return 0


def _error(path: Path, key: str, exc: CharterError, provenance: dict) -> None:
    append_error(path, key, exc, step="draft", raw=getattr(exc, "raw", None), provenance=provenance)


def build_constitution(
    rows: Sequence[dict[str, Any]], embedder: Embedder, name: str, description: str
) -> Constitution:
    """A validated constitution from draft rows (in the order given).

    Raises:
        ConstitutionError: the drafted fields do not validate (names the field).
    """
    articles: list[dict[str, Any]] = []
    for n, row in enumerate(rows, start=1):
        articles.append(
            {
                "id": str(n),
                "title": row["title"],
                "rule": row["rule"],
                "rationale": row["rationale"],
                "critique_request": (
                    "Identify where the assistant's last response departs from this rule, "
                    f"quoting the passage: {row['rule']}"
                ),
                "revision_request": (
                    f"Rewrite the response so that it follows this rule: {row['rule']}"
                ),
            }
        )
    if len(articles) > 1:
        vecs = embedder.embed([f"{a['title']}. {a['rule']}" for a in articles])
        sims = vecs @ vecs.T
        np.fill_diagonal(sims, -np.inf)
        for n, row in enumerate(rows):
            other = int(np.argmax(sims[n]))
            articles[n]["conflicts"] = [
                {"with": articles[other]["id"], "guidance": row["conflict_guidance"]}
            ]
    return parse_constitution(
        {"name": name, "description": description, "articles": articles}, origin="draft"
    )


def write_draft(
    constitution: Constitution,
    rows: Sequence[dict[str, Any]],
    wishes: WishSet,
    folder: Path,
) -> tuple[Path, Path]:
    """Write ``drafted_constitution.yaml`` and ``draft_citations.json`` into ``folder``."""
    data = json.loads(constitution.canonical_json())
    yaml_path = folder / "drafted_constitution.yaml"
    header = (
        f"# Drafted by {rows[0]['model_id'] if rows else 'no model'} from the wish ledger\n"
        f"# {wishes.checkpoint_id}\n"
        "# Each article's sources and their Merkle inclusion proofs: draft_citations.json\n"
    )
    ordered = {"name": data["name"], "description": data["description"], "articles": []}
    for article in data["articles"]:
        keys = ("id", "title", "rule", "rationale", "critique_request", "revision_request")
        item = {k: article[k] for k in keys}
        if article.get("conflicts"):
            item["conflicts"] = article["conflicts"]
        ordered["articles"].append(item)
    yaml_path.write_text(
        header + yaml.safe_dump(ordered, sort_keys=False, allow_unicode=True, width=100),
        encoding="utf-8",
    )
    citations = {
        "checkpoint": wishes.checkpoint,
        "checkpoint_id": wishes.checkpoint_id,
        "origin": wishes.origin,
        "tree_size": wishes.size,
        "root": wishes.root.hex(),
        "constitution_hash": constitution.hash,
        "articles": [
            {
                "article_id": article.id,
                "title": article.title,
                "group": row["group"],
                "cites_inferred": row["cites_inferred"],
                "cites": [citation(wishes, wishes.by_id(e)) for e in row["cites"]],
            }
            for article, row in zip(constitution.articles, rows, strict=True)
        ],
    }
    cite_path = folder / "draft_citations.json"
    cite_path.write_text(json.dumps(citations, indent=2, ensure_ascii=False) + "\n")
    return yaml_path, cite_path


__all__ = [
    "DRAFT_TEMPLATE",
    "STRICT_SUFFIX",
    "DraftedArticle",
    "build_constitution",
    "draft_article",
    "parse_draft",
    "run_drafting",
    "verify_citations",
    "write_draft",
]
