"""One collective analysis of a wish set: every measure of issue 4, into one folder.

:func:`analyze` is what both the ``collective`` run stage and ``charter
collective report`` call. It embeds every wish (cached in ``embeddings.npz``),
weighs them (:mod:`charter.collective.weights`), and computes:

- humanity vs self (:mod:`~charter.collective.humanity`): projection scores for
  all wishes; rubric scores from the judge for a seeded sample of
  ``judge_limit`` wishes (``rubric.jsonl``); the cancellation statistics; the
  wishes pulling hardest toward self; AUCs against the sample's orientation
  labels when they are known;
- opinion groups (:mod:`~charter.collective.groups`) and, when votes exist,
  consensus and bridging (:mod:`~charter.collective.consensus`);
- fidelity of the constitution (:mod:`~charter.collective.fidelity`), with
  reconstruction for ``reconstruction_limit`` wishes (``reconstruction.jsonl``);
- a drafted constitution (:mod:`~charter.collective.draft`) and its fidelity
  beside the given constitution's.

Model calls are stored row by row, keyed by wish or group, so an interrupted
analysis resumes where it stopped. Everything is returned as one typed
:class:`~charter.collective.results.CollectiveResults` and written to
``results.json``; :mod:`~charter.collective.report` turns it into the HTML page.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from charter._util.progress import progress_bar
from charter.backends.base import Embedder, l2_normalize
from charter.backends.batch import map_concurrent
from charter.collective import humanity as hum
from charter.collective.consensus import analyze_votes
from charter.collective.draft import build_constitution, group_key, run_drafting, write_draft
from charter.collective.fidelity import COVERAGE_THRESHOLD, Coverage, fidelity_summary
from charter.collective.groups import find_groups, summarize_groups
from charter.collective.reconstruction import reconstruction_accuracy, run_reconstruction
from charter.collective.results import CollectiveResults
from charter.collective.weights import InfluencePolicy, concentration_report, influence
from charter.collective.wishes import WishSet
from charter.constitution import Constitution
from charter.errors import CharterError
from charter.runs.store import JsonlStore, append_error, read_jsonl

RUBRIC = "rubric.jsonl"
RECONSTRUCTION = "reconstruction.jsonl"
DRAFTS = "drafts.jsonl"
ERRORS = "errors.jsonl"
RESULTS = "results.json"
EMBEDDINGS = "embeddings.npz"


@dataclass(frozen=True)
class AnalysisOptions:
    """What to compute and how much model time to spend on it."""

    transform: str = "sqrt"  # stake -> influence: linear | sqrt | log1p | capped
    k_min: int = 2  # fewest opinion groups tried
    k_max: int = 8  # most opinion groups tried
    judge_limit: int = 24  # wishes scored by the rubric judge (a seeded sample)
    reconstruction_limit: int = 8  # wishes put through the reconstruction test
    reconstruction_articles: int = 3  # articles the reconstruction judge sees
    reconstruction_max_tokens: int = 96  # tokens per candidate reply
    draft: bool = True  # draft a constitution from the groups
    draft_articles: int = 6  # at most this many drafted articles (groups with most stake)
    draft_max_tokens: int = 320  # tokens per drafted article
    coverage_threshold: float = COVERAGE_THRESHOLD  # best-article cosine below it: uncovered
    top_n: int = 10  # rows in the "top" lists
    seed: int = 0  # seeds samples, k-means and factorisation


def sample_orientations(wishes: WishSet) -> dict[str, str]:
    """Orientation labels (humanity/self/mixed) of wishes that come from the shipped sample.

    ``builtin:sample`` carries them as annotations; a ledger built from the
    sample (the quickstart's ``ledger`` stage) is matched by text, since the
    labels are not in the ledger entries.
    """
    labels = {k: v["orientation"] for k, v in wishes.annotations.items() if v.get("orientation")}
    if labels:
        return labels
    from charter.ledger.stage import SAMPLE, load_wishes

    by_text = {
        (row["scenario"], row["behaviour"]): row.get("orientation") for row in load_wishes(SAMPLE)
    }
    for record in wishes.records:
        label = by_text.get((record.scenario, record.behaviour))
        if label:
            labels[record.entry_id] = label
    return labels


def embed_wishes(wishes: WishSet, embedder: Embedder, folder: Path, progress: bool) -> np.ndarray:
    """Unit embeddings of every wish, cached by entry id and embedder id."""
    path = folder / EMBEDDINGS
    ids = [r.entry_id for r in wishes.records]
    if path.exists():
        cached = np.load(path, allow_pickle=False)
        if str(cached["model_id"]) == embedder.model_id and list(cached["ids"]) == ids:
            return cached["vectors"]
    vectors = np.zeros((len(ids), embedder.dim), dtype=np.float32)
    with progress_bar("collective: embed wishes", len(ids), progress) as bar:
        for start in range(0, len(ids), 64):
            chunk = wishes.records[start : start + 64]
            vectors[start : start + len(chunk)] = embedder.embed([r.text for r in chunk])
            bar.advance(len(chunk))
    vectors = l2_normalize(vectors)
    np.savez(path, vectors=vectors, ids=np.array(ids), model_id=np.array(embedder.model_id))
    return vectors


def judged_sample(wishes: WishSet, limit: int, seed: int, salt: str) -> list[int]:
    """A seeded sample of wish indexes, in log order (the same on every rerun).

    The first ``limit`` of one seeded permutation, so raising the limit only adds wishes.
    """
    order = list(range(wishes.size))
    random.Random(f"{seed}:{salt}").shuffle(order)
    return sorted(order[:limit])


def _rubric(
    wishes, indexes, judge, store: JsonlStore, errors: Path, seed_for, provenance, progress: bool
) -> None:
    scorer = hum.RubricScorer(judge)
    todo = [wishes.records[i] for i in indexes if wishes.records[i].entry_id not in store]
    if not todo:
        return
    limit = getattr(judge, "max_concurrency", 1)
    with progress_bar("collective: rubric h/s", len(todo), progress) as bar:
        for record, result in map_concurrent(
            lambda r: scorer.score(r.text), ((r, r) for r in todo), None, limit
        ):
            prov = provenance(judge.model_id, seed_for(record.entry_id))
            if isinstance(result, hum.RubricScore):
                store.add(
                    {
                        "key": record.entry_id,
                        "index": record.index,
                        "h": result.h,
                        "s": result.s,
                        "h_dist": list(result.h_dist),
                        "s_dist": list(result.s_dist),
                        "judge": judge.model_id,
                        "provenance": prov,
                    }
                )
            else:
                _log_error(errors, record.entry_id, "rubric", result, prov)
            bar.advance()


def _log_error(path: Path, key: str, step: str, exc: CharterError, prov: dict) -> None:
    append_error(path, key, exc, step=step, raw=getattr(exc, "raw", None), provenance=prov)


def _coverage_dict(cov: Coverage, wishes: WishSet, weights: np.ndarray, top_n: int) -> dict:
    return {
        "threshold": cov.threshold,
        "covered_share": cov.covered_share,
        "covered_stake_share": cov.covered_stake_share,
        "per_article": [asdict(a) for a in cov.per_article],
        "uncovered_count": len(cov.uncovered),
        "uncovered": [
            {
                "entry_id": wishes.records[i].entry_id,
                "similarity": float(cov.similarity[i]),
                "best_article": cov.best_article[i],
                "weight": float(weights[i]),
                "text": wishes.records[i].text,
            }
            for i in cov.uncovered[: max(top_n, 25)]
        ],
    }


def analyze(
    wishes: WishSet,
    folder: Path,
    embedder: Embedder,
    constitution: Constitution,
    options: AnalysisOptions,
    provenance: Callable[[str, int], dict],
    seed_for: Callable[[str], int],
    judge: Any = None,
    votes: np.ndarray | None = None,
    progress: bool = True,
) -> CollectiveResults:
    """Run every measure; write the row files and ``results.json``; return the results.

    The results are a :class:`~charter.collective.results.CollectiveResults`,
    validated once as they are assembled; ``results.json`` is written from it
    (:meth:`~charter.collective.results.CollectiveResults.to_json`), so the file
    and the returned model always agree.

    Args:
        wishes: the wish set (read at a checkpoint).
        folder: where rows, caches and results go (created if missing).
        embedder: embeds wishes, anchors and articles.
        constitution: the constitution whose fidelity is measured.
        options: limits and settings.
        provenance: ``(model_id, seed) -> dict`` recorded on every model-made row.
        seed_for: a stable seed per row key.
        judge: the feedback model (rubric, reconstruction, drafting); None skips them.
        votes: a ``(wishes, voters)`` matrix of +1/-1/NaN, when votes exist.
        progress: show progress bars.
    """
    folder.mkdir(parents=True, exist_ok=True)
    errors = folder / ERRORS
    records = wishes.records
    ids = [r.entry_id for r in records]
    e = embed_wishes(wishes, embedder, folder, progress)
    policy = InfluencePolicy(options.transform)
    weights = influence(wishes, policy).raw
    labels = sample_orientations(wishes)
    orientation = [labels.get(i, "") for i in ids]

    # -- humanity vs self
    h_proj, s_proj = hum.projection_scores(e, hum.anchor_directions(embedder))
    authors = [r.author_key for r in records]
    humanity: dict[str, Any] = {
        "projection": {
            "cancellation": hum.cancellation_report(e, h_proj, s_proj, weights, authors),
            "auc_s": hum.separation_auc(s_proj, orientation),
            "auc_h": hum.separation_auc(h_proj, orientation, "humanity", "self"),
            "top_self": _top_self(s_proj, weights, wishes, options.top_n, orientation),
        }
    }
    rubric_rows: dict[str, dict] = {}
    if judge is not None and options.judge_limit > 0:
        indexes = judged_sample(wishes, options.judge_limit, options.seed, "rubric")
        with JsonlStore(folder / RUBRIC) as store:
            _rubric(wishes, indexes, judge, store, errors, seed_for, provenance, progress)
        rubric_rows = {r["key"]: r for r in read_jsonl(folder / RUBRIC)}
        judged = [i for i, k in enumerate(ids) if k in rubric_rows]
        if judged:
            h_r = np.array([rubric_rows[ids[i]]["h"] for i in judged])
            s_r = np.array([rubric_rows[ids[i]]["s"] for i in judged])
            w_r, o_r = weights[judged], [orientation[i] for i in judged]
            sub = WishSet([records[i] for i in judged], None, wishes.origin)
            humanity["rubric"] = {
                "n": len(judged),
                "judge": judge.model_id,
                "cancellation": hum.cancellation_report(
                    e[judged], h_r, s_r, w_r, [authors[i] for i in judged]
                ),
                "auc_s": hum.separation_auc(s_r, o_r),
                "auc_h": hum.separation_auc(h_r, o_r, "humanity", "self"),
                "top_self": [
                    {**row, "index": judged[row["index"]]}
                    for row in _top_self(s_r, w_r, sub, options.top_n, o_r)
                ],
            }

    # -- opinion groups
    grouping = find_groups(e, options.k_min, options.k_max, options.seed)
    tags = [list(r.tags) for r in records]
    groups = {
        "k": grouping.k,
        "silhouettes": {str(k): v for k, v in grouping.silhouettes.items()},
        "explained_variance": list(grouping.explained[:2]),
        "summaries": [
            {
                **asdict(g),
                "representative_texts": [records[i].text for i in g.representatives],
                "representative_ids": [ids[i] for i in g.representatives],
            }
            for g in summarize_groups(grouping, weights, tags)
        ],
    }
    consensus = None
    if votes is not None and votes.shape[1] > 0:
        result = analyze_votes(votes, seed=options.seed, k_max=options.k_max)
        voted = np.flatnonzero(result.endorse + result.oppose > 0)
        consensus = {
            "voters": result.voters,
            "voter_groups": len(set(result.voter_group.tolist())),
            "wishes_with_votes": len(voted),
            "top_consensus": _top_votes(result, voted, result.consensus, records, options.top_n),
            "top_bridging": _top_votes(result, voted, result.bridging, records, options.top_n),
        }

    # -- fidelity of the given constitution
    similarity, cov = fidelity_summary(
        e, weights, constitution, embedder, options.coverage_threshold
    )
    fidelity: dict[str, Any] = {
        "constitution": constitution.name,
        "constitution_hash": constitution.hash,
        "collective_similarity": similarity,
        "coverage": _coverage_dict(cov, wishes, weights, options.top_n),
    }
    if judge is not None and options.reconstruction_limit > 0:
        chosen = judged_sample(wishes, options.reconstruction_limit, options.seed, "reconstruct")
        with JsonlStore(folder / RECONSTRUCTION) as store:
            run_reconstruction(
                [records[i] for i in chosen],
                constitution,
                embedder,
                judge,
                judge,
                store,
                errors,
                seed_for,
                provenance,
                options.reconstruction_articles,
                options.reconstruction_max_tokens,
                progress,
            )
        rows = [r for r in read_jsonl(folder / RECONSTRUCTION)]
        best = dict(zip(ids, cov.best_article, strict=True))
        fidelity["reconstruction"] = reconstruction_accuracy(rows, best)

    # -- a constitution drafted from the ledger
    draft = None
    if judge is not None and options.draft:
        with JsonlStore(folder / DRAFTS) as store:
            run_drafting(
                wishes,
                grouping,
                weights,
                judge,
                store,
                errors,
                seed_for,
                provenance,
                options.draft_articles,
                max_tokens=options.draft_max_tokens,
                progress=progress,
            )
        draft = _draft_results(wishes, grouping, weights, folder, embedder, e, options)

    concentration = concentration_report(wishes)
    per_wish = [
        {
            "entry_id": ids[i],
            "index": records[i].index,
            "weight": float(weights[i]),
            "stake": records[i].stake,
            "group": int(grouping.labels[i]),
            "x": float(grouping.coords[i, 0]),
            "y": float(grouping.coords[i, 1]),
            "h_projection": float(h_proj[i]),
            "s_projection": float(s_proj[i]),
            "h_rubric": rubric_rows.get(ids[i], {}).get("h"),
            "s_rubric": rubric_rows.get(ids[i], {}).get("s"),
            "orientation": orientation[i] or None,
            "best_article": cov.best_article[i],
            "coverage_similarity": float(cov.similarity[i]),
        }
        for i in range(len(records))
    ]
    stakes_by_key: dict[str, float] = {}
    for r in records:
        stakes_by_key[r.author_key] = stakes_by_key.get(r.author_key, 0.0) + r.stake
    results = CollectiveResults.model_validate(  # validated once, here where it is assembled
        {
            "ledger": {
                "origin": wishes.origin,
                "size": wishes.size,
                "root": wishes.root.hex(),
                "checkpoint_id": wishes.checkpoint_id,
                "checkpoint": wishes.checkpoint,
                "verified": wishes.verified,
            },
            "models": {
                "embedder": embedder.model_id,
                "judge": getattr(judge, "model_id", None),
            },
            "constitution_hash": constitution.hash,
            "options": asdict(options),
            "influence": {
                "transform": options.transform,
                "concentration": concentration,
                "stake_by_key": sorted(stakes_by_key.values()),
                "influence_by_key": sorted(influence(wishes, policy).by_key().values()),
            },
            "humanity": humanity,
            "groups": groups,
            "consensus": consensus,
            "fidelity": fidelity,
            "draft": draft,
            "wishes": per_wish,
            "created_at": datetime.now(UTC).isoformat(),
        }
    )
    results.write(folder / RESULTS)
    return results


def _top_self(s, weights, wishes: WishSet, n: int, orientation) -> list[dict[str, Any]]:
    return [
        {
            "index": i,
            "entry_id": wishes.records[i].entry_id,
            "pull": pull,
            "s": float(s[i]),
            "weight": float(weights[i]),
            "orientation": orientation[i] or None,
            "text": wishes.records[i].text,
        }
        for i, pull in hum.top_self_serving(s, weights, n)
    ]


def _top_votes(result, voted, score, records, n: int) -> list[dict[str, Any]]:
    order = voted[np.argsort(-score[voted], kind="stable")][:n]
    return [
        {
            "entry_id": records[i].entry_id,
            "consensus": float(result.consensus[i]),
            "bridging": float(result.bridging[i]),
            "endorse": int(result.endorse[i]),
            "oppose": int(result.oppose[i]),
            "text": records[i].text,
        }
        for i in order
    ]


def _draft_results(wishes, grouping, weights, folder: Path, embedder, e, options) -> dict | None:
    rows = sorted(read_jsonl(folder / DRAFTS), key=lambda r: -r["group_stake"])
    current = {
        group_key(g, [wishes.records[i] for i in np.flatnonzero(grouping.labels == g)])
        for g in range(grouping.k)
    }
    rows = [r for r in rows if r["key"] in current][: options.draft_articles]
    if not rows:
        return {"articles": [], "failed": True}
    drafted = build_constitution(
        rows,
        embedder,
        "Drafted from the wish ledger",
        f"Articles drafted by a model from opinion groups of the wishes in {wishes.checkpoint_id}.",
    )
    yaml_path, cite_path = write_draft(drafted, rows, wishes, folder)
    similarity, cov = fidelity_summary(e, weights, drafted, embedder, options.coverage_threshold)
    return {
        "yaml": yaml_path.name,
        "citations": cite_path.name,
        "constitution_hash": drafted.hash,
        "articles": [
            {
                "id": a.id,
                "title": a.title,
                "rule": a.rule,
                "rationale": a.rationale,
                "cites": row["cites"],
                "cites_inferred": row["cites_inferred"],
                "group": row["group"],
            }
            for a, row in zip(drafted.articles, rows, strict=True)
        ],
        "collective_similarity": similarity,
        "coverage": _coverage_dict(cov, wishes, weights, options.top_n),
    }
