"""The ``collective`` run stage: analyse a wish ledger and write the HTML report.

Add it to a config after the stage that builds the ledger::

    - name: collective
      kind: collective
      ledger: "stage:wish_ledger"   # or a ledger file, an export, or builtin:sample
      judge: feedback               # a key under `models`; omit for embeddings only
      judge_limit: 12
      reconstruction_limit: 4
      draft_articles: 3

Outputs in ``<run>/<stage>/``: ``report.html`` (one self-contained page),
``results.json`` (every figure in the page), ``rubric.jsonl``,
``reconstruction.jsonl`` and ``drafts.jsonl`` (model rows, keyed, each with
provenance), ``errors.jsonl``, ``drafted_constitution.yaml`` and
``draft_citations.json`` (the drafted articles' sources with Merkle inclusion
proofs). Resumable: model rows already stored are not asked again.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar, Literal

from pydantic import Field

from charter._util.sources import parse_source
from charter.collective.analysis import AnalysisOptions, analyze
from charter.collective.fidelity import COVERAGE_THRESHOLD
from charter.collective.report import write_report
from charter.collective.wishes import SAMPLE, WishSet, load_wishes
from charter.errors import ConfigError, RunError
from charter.runs import estimate as est
from charter.runs.config import StageSpec
from charter.runs.context import RunContext
from charter.runs.estimate import CallEstimate, PlanContext

# The plan's stand-ins: tokens of one wish, wishes a draft shows, reconstruction replies.
WISH_TOKENS = 80
DRAFT_SHOWN = 6
RECONSTRUCTION_MAX_TOKENS = 96

REPORT = "report.html"


class CollectiveSpec(StageSpec):
    """Collective analysis of a wish ledger, with an HTML report."""

    kind: Literal["collective"] = "collective"
    MODEL_FIELDS: ClassVar[tuple[str, ...]] = ("judge",)

    ledger: str = Field(
        SAMPLE, description="stage:<ledger stage>, a ledger file/URL, an export, or builtin:sample"
    )
    judge: str | None = Field(
        None,
        description="a key under `models` (rubric, reconstruction, "
        "drafting); none: embedding measures only",
    )
    votes: str | None = Field(None, description="votes: 'ledger' (the ledger's own) or a path")
    transform: Literal["linear", "sqrt", "log1p", "capped"] = Field(
        "sqrt", description="stake -> influence (charter.collective.weights)"
    )
    judge_limit: int = Field(24, ge=0, description="wishes scored by the rubric judge")
    reconstruction_limit: int = Field(8, ge=0, description="wishes in the reconstruction test")
    reconstruction_articles: int = Field(3, ge=1, description="articles the judge is shown")
    draft: bool = Field(True, description="draft a constitution from the opinion groups")
    draft_articles: int = Field(6, ge=1, description="most articles drafted")
    draft_max_tokens: int = Field(320, ge=32, description="tokens per drafted article")
    k_min: int = Field(2, ge=2, description="fewest opinion groups tried")
    k_max: int = Field(8, ge=2, description="most opinion groups tried")
    coverage_threshold: float = Field(
        COVERAGE_THRESHOLD, ge=-1, le=1, description="best-article cosine below it: uncovered"
    )

    RESUMABLE_FIELDS: ClassVar[tuple[str, ...]] = (
        "judge_limit",
        "reconstruction_limit",
        "draft_articles",
    )

    def estimate(self, ctx: PlanContext) -> list[CallEstimate]:
        """The judge's calls, counted at the limits (the ledger may hold fewer wishes).

        Wishes are not read (the ledger is usually written by an earlier
        stage): each stands in as ``WISH_TOKENS`` tokens. Rubric: 2 questions
        per wish; reconstruction: 2 replies and 2 orders per wish; drafting:
        up to 2 attempts per article (a stricter retry), 6 wishes shown each.
        """
        if self.judge is None:
            return []
        from charter.collective import draft, humanity, reconstruction

        wish = "x" * est.CHARS_PER_TOKEN * WISH_TOKENS
        rubric = [
            est.approx_tokens(t.format(wish=wish)) + est.MESSAGE_OVERHEAD
            for t in (humanity.HUMANITY_TEMPLATE, humanity.SELF_TEMPLATE)
        ]
        writer = est.approx_tokens(reconstruction.FULFIL_TEMPLATE) + WISH_TOKENS
        judged = (
            est.approx_tokens(reconstruction.JUDGE_TEMPLATE)
            + WISH_TOKENS * (1 + self.reconstruction_articles)
            + 2 * RECONSTRUCTION_MAX_TOKENS
        )
        drafting = est.approx_tokens(draft.DRAFT_TEMPLATE) + DRAFT_SHOWN * WISH_TOKENS
        note = "at most; fewer when the ledger holds fewer wishes"
        out = [
            est.choices(
                self.judge, "rubric (humanity, self)", rubric * self.judge_limit, note=note
            ),
            est.generations(
                self.judge,
                "reconstruction replies",
                [writer] * 2 * self.reconstruction_limit,
                RECONSTRUCTION_MAX_TOKENS,
                note=note,
            ),
            est.choices(
                self.judge,
                "reconstruction judge (2 orders)",
                [judged] * 2 * self.reconstruction_limit,
                note=note,
            ),
        ]
        if self.draft:
            out.append(
                est.generations(
                    self.judge,
                    "draft article",
                    [drafting] * 2 * self.draft_articles,
                    self.draft_max_tokens,
                    upper_bound=True,
                    note="a stricter retry counted for every article",
                )
            )
        return [e for e in out if e.calls]

    def options(self, seed: int) -> AnalysisOptions:
        if self.k_max < self.k_min:
            raise ConfigError(f"stage {self.name!r}: k_max must be at least k_min.")
        return AnalysisOptions(
            transform=self.transform,
            k_min=self.k_min,
            k_max=self.k_max,
            judge_limit=self.judge_limit if self.judge else 0,
            reconstruction_limit=self.reconstruction_limit if self.judge else 0,
            reconstruction_articles=self.reconstruction_articles,
            draft=self.draft and self.judge is not None,
            draft_articles=self.draft_articles,
            draft_max_tokens=self.draft_max_tokens,
            coverage_threshold=self.coverage_threshold,
            seed=seed,
        )


def ledger_location(spec: CollectiveSpec, ctx: RunContext) -> str:
    """Where the wishes come from: a ledger stage's database, a path, or the sample."""
    source = parse_source(spec.ledger)
    if source.scheme == "stage":
        stage = source.value
        path = ctx.output_dir / stage / "ledger.sqlite"
        if not path.is_file():
            raise RunError(
                f"{path}: stage {stage!r} has not built its ledger yet; put it before "
                f"{spec.name!r} in `stages` and run the config from the start."
            )
        return str(path)
    return ctx.resolve(spec.ledger)  # builtin: and postgresql:// pass through


def load_vote_matrix(source: str | None, ledger: str, wishes: WishSet):
    """The (wishes, voters) vote matrix, or None when no votes are asked for or found."""
    if source is None:
        return None
    from charter.ledger.votes import load_votes, vote_matrix

    location = ledger if source == "ledger" else source
    if parse_source(location).scheme == "builtin":  # the sample carries no votes
        return None
    matrix, _ = vote_matrix(load_votes(location), [r.entry_id for r in wishes.records])
    return matrix.T if matrix.size else None


def run_collective(spec: CollectiveSpec, ctx: RunContext, restart: bool = False) -> dict:
    """Run the analysis and write the report; return counts and the headline figures."""
    options = spec.options(ctx.config.seed)
    folder: Path = ctx.prepare_stage(spec, restart)
    location = ledger_location(spec, ctx)
    wishes = load_wishes(location)
    if ctx.ledger_checkpoint is None:
        ctx.ledger_checkpoint = wishes.checkpoint_id
    judge = ctx.model(spec.judge) if spec.judge else None
    results = analyze(
        wishes,
        folder,
        ctx.embedder(),
        ctx.constitution,
        options,
        provenance=ctx.provenance,
        seed_for=lambda key: ctx.seed_for(spec.name, key),
        judge=judge,
        votes=load_vote_matrix(spec.votes, location, wishes),
        progress=ctx.progress,
    )
    write_report(results, folder / REPORT)
    rec = results.fidelity.reconstruction
    return {
        "total": wishes.size,
        "done": wishes.size,
        "new": 0,
        "failed": _count_lines(folder / "errors.jsonl"),
        "groups": results.groups.k,
        "collective_similarity": round(results.fidelity.collective_similarity, 4),
        "covered_share": round(results.fidelity.coverage.covered_share, 4),
        "reconstruction_accuracy": rec.overall.accuracy if rec else None,
        "drafted_articles": len(results.draft.articles) if results.draft else 0,
        "report": str(folder / REPORT),
    }


def _count_lines(path: Path) -> int:
    return sum(1 for _ in path.open(encoding="utf-8")) if path.exists() else 0
