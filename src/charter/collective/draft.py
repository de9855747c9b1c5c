"""Draft a constitution from the ledger: one article per opinion group, with proofs.

Issue 4, point 5. The wishes are grouped (:mod:`charter.collective.groups`);
for each group the feedback model is shown the wishes nearest its centroid,
labelled ``w1``, ``w2``, ... (short labels a small model copies reliably), and
asked for one article as JSON (:data:`DRAFT_TEMPLATE`): a title, a rule, a
rationale, conflict guidance, and the labels of the wishes it drew on. A reply
that does not parse is retried once with a stricter prompt
(:data:`STRICT_SUFFIX`); a second failure becomes an error row with the raw
text, retried on the next run.

Every cited wish is a :class:`Citation` that binds the quoted text to a leaf
of the signed log, so anyone can check offline, with only the checkpoint's
root, that an article quotes what a depositor actually wrote:

- ``entry``: the entry's stored bytes (canonical JSON), the leaf data;
- ``entry_id``: its RFC 6962 leaf hash, ``SHA-256(0x00 || entry)`` (section 2.1);
- ``leaf_index``, ``tree_size``, ``audit_path``: the inclusion proof of that
  leaf against the checkpoint the wishes were read at (RFC 6962 section 2.1.1,
  verified as in RFC 9162 section 2.1.3.2);
- ``scenario``, ``behaviour``: the quoted text, and ``quote_sha256``, the
  SHA-256 of the quote's canonical JSON (:func:`quote_sha256`).

:func:`verify_citation` recomputes the leaf hash from ``entry`` (a claimed id
proves nothing), checks the inclusion proof of that hash, and checks that the
quote hashes to ``quote_sha256`` and is contained in the entry's own
``wish.scenario`` and ``wish.behaviour``. It returns a :class:`CitationCheck`
(``ok``, ``reason``) for a report to render; :func:`verify_citations` raises
on the first citation that fails.

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
from typing import Any, Literal

import numpy as np
import yaml
from pydantic import BaseModel, ConfigDict, Field

from charter._util.progress import progress_bar
from charter.backends.base import Embedder, GenerateParams
from charter.collective.groups import Grouping, nearest_to_centroid
from charter.collective.wishes import WishRecord, WishSet
from charter.constitution import Constitution, parse_constitution
from charter.errors import CharterError, MalformedOutputError, VerificationError
from charter.merkle import leaf_hash, verify_inclusion
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


def quote_sha256(scenario: str, behaviour: str) -> str:
    """The hex SHA-256 of a quote: canonical JSON ``{"behaviour": ..., "scenario": ...}``.

    JSON (sorted keys, no spaces, UTF-8) rather than the two texts joined, so no
    split of one quote into scenario and behaviour hashes like another.
    """
    data = json.dumps(
        {"behaviour": behaviour, "scenario": scenario},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256(data.encode("utf-8")).hexdigest()


class Citation(BaseModel):
    """A cited wish: the quoted text, the entry it is quoted from, and that entry's proof."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    entry_id: str = Field(description="hex RFC 6962 leaf hash SHA-256(0x00 || entry)")
    leaf_index: int = Field(ge=0, description="the leaf's index in the log")
    tree_size: int = Field(ge=1, description="leaves in the tree the proof is for")
    audit_path: list[str] = Field(description="hex inclusion proof, lowest sibling first")
    entry: str = Field(description="the entry's stored bytes (canonical JSON, UTF-8)")
    scenario: str = Field(description="quoted: the wish's situation")
    behaviour: str = Field(description="quoted: the behaviour the depositor wants")
    quote_sha256: str = Field(description="quote_sha256(scenario, behaviour), hex")


class CitedArticle(BaseModel):
    """A drafted article and the wishes it cites."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    article_id: str
    title: str
    group: int = Field(description="the opinion group it was drafted for")
    cites_inferred: bool = Field(description="the reply cited no shown wish, so all are cited")
    cites: list[Citation]


class DraftCitations(BaseModel):
    """``draft_citations.json``: every drafted article's sources, proved against one checkpoint."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    checkpoint: str | None = Field(description="the signed checkpoint note the wishes were read at")
    checkpoint_id: str = Field(description="origin@size:root-hex")
    origin: str
    tree_size: int
    root: str = Field(description="hex RFC 6962 root; trust it once the checkpoint verifies")
    constitution_hash: str
    articles: list[CitedArticle]


CheckStep = Literal["quote_hash", "leaf", "inclusion", "quote"]
"""The checks of :func:`verify_citation`, in the order they run."""


class CitationCheck(BaseModel):
    """What :func:`verify_citation` found for one citation, for a report to render."""

    model_config = ConfigDict(frozen=True)

    entry_id: str
    leaf_index: int
    ok: bool = Field(description="the quote is in the entry and the entry's leaf is proved")
    failed: CheckStep | None = Field(None, description="the first check that failed; None when ok")
    exact: bool = Field(False, description="the quote is the entry's text exactly, not a part")
    reason: str = Field(description="'proof verified', or what failed, in one sentence")
    expected: str | None = None
    computed: str | None = None


def citation(wishes: WishSet, record: WishRecord) -> Citation:
    """A cited wish with its entry bytes and inclusion proof against the set's checkpoint."""
    return Citation(
        entry_id=record.entry_id,
        leaf_index=record.index,
        tree_size=wishes.size,
        audit_path=[h.hex() for h in wishes.inclusion_proof(record.index)],
        entry=wishes.entry_bytes(record.index).decode("utf-8"),
        scenario=record.scenario,
        behaviour=record.behaviour,
        quote_sha256=quote_sha256(record.scenario, record.behaviour),
    )


def _as_bytes(value: bytes | str) -> bytes:
    return bytes.fromhex(value) if isinstance(value, str) else value


def verify_citation(
    citation: Citation, root: bytes | str, tree_size: int | None = None
) -> CitationCheck:
    """Check that a citation's quote is in the wish entry whose leaf is proved under ``root``.

    The checks, each building on the last: the quote hashes to ``quote_sha256``;
    ``SHA-256(0x00 || entry)`` is ``entry_id`` (RFC 6962 section 2.1); that leaf
    hash is leaf ``leaf_index`` of the tree with ``root`` (RFC 9162 section
    2.1.3.2); and the quoted scenario and behaviour are contained in the entry's
    ``wish.scenario`` and ``wish.behaviour``. Containment is exact substring
    (no normalising), so a changed word fails.

    Args:
        citation: one cited wish from ``DraftCitations.articles[i].cites``.
        root: the root the caller trusts (bytes or hex), e.g. ``cp.root`` of
            ``charter.ledger.verify_checkpoint(citations.checkpoint, key)``;
            ``DraftCitations.root`` alone shows only self-consistency.
        tree_size: the checkpoint's size; when given, the proof must be for it.

    Returns:
        A :class:`CitationCheck`; ``ok`` False names the failed check. Unlike
        :func:`verify_citations` it does not raise, so a report can show every
        citation's result.
    """

    def fail(
        step: CheckStep, reason: str, expected: str | None = None, computed: str | None = None
    ) -> CitationCheck:
        return CitationCheck(
            entry_id=citation.entry_id,
            leaf_index=citation.leaf_index,
            ok=False,
            failed=step,
            reason=reason,
            expected=expected,
            computed=computed,
        )

    quoted = quote_sha256(citation.scenario, citation.behaviour)
    if quoted != citation.quote_sha256:
        return fail(
            "quote_hash",
            "the quoted text does not hash to the citation's quote_sha256: the quote was altered.",
            citation.quote_sha256,
            quoted,
        )
    # The proof is checked for the hash of the entry bytes, never for the claimed id.
    leaf = leaf_hash(citation.entry.encode("utf-8"))
    if leaf.hex() != citation.entry_id:
        return fail(
            "leaf",
            "the entry's bytes do not hash to the cited entry id: it is another entry.",
            citation.entry_id,
            leaf.hex(),
        )
    if tree_size is not None and citation.tree_size != tree_size:
        return fail(
            "inclusion",
            f"the proof is for a tree of {citation.tree_size} leaves, not the checkpoint's "
            f"{tree_size}.",
            str(tree_size),
            str(citation.tree_size),
        )
    try:
        path = [bytes.fromhex(h) for h in citation.audit_path]
        verify_inclusion(leaf, citation.leaf_index, citation.tree_size, path, _as_bytes(root))
    except ValueError:
        return fail("inclusion", "the audit path or root is not hex.")
    except VerificationError as exc:
        return fail("inclusion", f"the inclusion proof does not verify: {exc}")
    try:
        wish = json.loads(citation.entry)["wish"]
        scenario, behaviour = wish["scenario"], wish["behaviour"]
    except (ValueError, KeyError, TypeError):
        return fail("quote", "the proved entry is not a wish entry with scenario and behaviour.")
    # An empty quote is contained in anything and so would bind nothing.
    for name, part, whole in (
        ("scenario", citation.scenario, scenario),
        ("behaviour", citation.behaviour, behaviour),
    ):
        if not part.strip() or part not in whole:
            return fail(
                "quote",
                f"the quoted {name} is not in the proved entry's {name}.",
                whole,
                part,
            )
    return CitationCheck(
        entry_id=citation.entry_id,
        leaf_index=citation.leaf_index,
        ok=True,
        exact=(citation.scenario, citation.behaviour) == (scenario, behaviour),
        reason="proof verified",
    )


def check_citations(
    citations: DraftCitations, root: bytes | str | None = None, tree_size: int | None = None
) -> list[list[CitationCheck]]:
    """:func:`verify_citation` for every citation: one list per article, in order.

    ``root`` defaults to ``citations.root`` (self-consistency only; pass a
    checkpoint's root to tie the quotes to the signed log).
    """
    trusted = citations.root if root is None else root
    return [
        [verify_citation(c, trusted, tree_size) for c in article.cites]
        for article in citations.articles
    ]


def load_citations(path: str | Path) -> DraftCitations:
    """Read ``draft_citations.json`` (validated; raises pydantic's ValidationError if not)."""
    return DraftCitations.model_validate_json(Path(path).read_text(encoding="utf-8"))


def verify_citations(
    citations: DraftCitations | dict[str, object],
    root: bytes | str | None = None,
    tree_size: int | None = None,
) -> int:
    """Check every citation (:func:`verify_citation`); return how many.

    ``root`` and ``tree_size`` as for :func:`check_citations`; a dict (the JSON
    of ``draft_citations.json``) is validated into :class:`DraftCitations` first.

    Raises:
        VerificationError: the first citation that fails, with ``expected`` and
            ``computed``.
    """
    if not isinstance(citations, DraftCitations):
        citations = DraftCitations.model_validate(citations)
    checked = check_citations(citations, root, tree_size)
    count = 0
    for article, checks in zip(citations.articles, checked, strict=True):
        for check in checks:
            if not check.ok:
                raise VerificationError(
                    f"article {article.article_id}: citation of leaf {check.leaf_index} "
                    f"({check.entry_id[:16]}…): {check.reason}",
                    expected=check.expected,
                    computed=check.computed,
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
    citations = DraftCitations(
        checkpoint=wishes.checkpoint,
        checkpoint_id=wishes.checkpoint_id,
        origin=wishes.origin,
        tree_size=wishes.size,
        root=wishes.root.hex(),
        constitution_hash=constitution.hash,
        articles=[
            CitedArticle(
                article_id=article.id,
                title=article.title,
                group=row["group"],
                cites_inferred=row["cites_inferred"],
                cites=[citation(wishes, wishes.by_id(e)) for e in row["cites"]],
            )
            for article, row in zip(constitution.articles, rows, strict=True)
        ],
    )
    cite_path = folder / "draft_citations.json"
    cite_path.write_text(citations.model_dump_json(indent=2) + "\n", encoding="utf-8")
    return yaml_path, cite_path


__all__ = [
    "DRAFT_TEMPLATE",
    "STRICT_SUFFIX",
    "Citation",
    "CitationCheck",
    "CitedArticle",
    "DraftCitations",
    "DraftedArticle",
    "build_constitution",
    "check_citations",
    "citation",
    "draft_article",
    "load_citations",
    "parse_draft",
    "quote_sha256",
    "run_drafting",
    "verify_citation",
    "verify_citations",
    "write_draft",
]
