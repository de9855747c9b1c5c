"""The report page: a section per stage kind, honest comparisons, escaping, provenance, the CLI."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from charter._util.html import STYLESHEET
from charter.cli.main import app
from charter.collective.citations import check_citation
from charter.collective.report import render_report as render_collective
from charter.collective.results import CollectiveResults, DraftCitations
from charter.errors import DatasetError
from charter.evals.results import EvalResult, ModelScore
from charter.report import collect_run, render_report, write_report
from charter.report.compare import compare_to_baseline
from charter.report.models import CollectiveStage, Mix, RunManifest, TrainCurve

from .conftest import PROV, make_run


def test_every_section_of_a_full_run(synthetic_run):
    html = write_report(synthetic_run).read_text(encoding="utf-8")
    for section in (
        "overview",
        "provenance",
        "frontier",
        "rates",
        "tables",
        "examples",
        "revisions",
        "labels",
        "judges",
        "training",
        "mixes",
        "ablation",
        "collective",
        "collective-humanity",
        "collective-draft",
        "ledger",
    ):
        assert f'<section id="{section}">' in html, section
    assert "CRITIQUE-TEXT" in html and "REVISION-TEXT" in html
    assert "CHOSEN-TEXT" in html and "0.810" in html
    assert "agentic_misalignment" in html and "reduction factor vs base" in html
    assert PROV["constitution_hash"] in html and PROV["ledger_checkpoint"] in html
    assert html.count("<svg") >= 2  # frontier and rates, inline
    # Self-contained: nothing is fetched (XML namespace URIs inside the SVG are names).
    for fetch in ('src="http', 'href="http', "<link", "url(http", "@import"):
        assert fetch not in html, fetch


def test_run_text_is_escaped(synthetic_run):
    html = render_report(collect_run(synthetic_run))
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_sections_follow_what_exists(tmp_path):
    run = make_run(tmp_path, with_evals=False)
    html = render_report(collect_run(run))
    assert '<section id="revisions">' in html
    assert '<section id="frontier">' not in html and '<section id="rates">' not in html
    assert 'href="#frontier"' not in html


def test_missing_manifest_is_a_warning_not_a_crash(synthetic_run):
    (synthetic_run / "manifest.json").unlink()
    html = render_report(collect_run(synthetic_run))
    assert "no manifest.json" in html


def test_bad_input_is_one_clear_error(tmp_path, synthetic_run):
    with pytest.raises(DatasetError, match="no such run folder"):
        write_report(tmp_path / "absent")
    (synthetic_run / "manifest.json").write_text("{not json")
    with pytest.raises(DatasetError, match=r"manifest\.json: not valid JSON"):
        write_report(synthetic_run)


def test_agentic_rates_reach_the_tables(synthetic_run):
    data = collect_run(synthetic_run)
    agentic = next(r for r in data.results if r.name == "agentic_misalignment")
    # The judge says "harmful" only for the Relay variant: 1 of 5 per model.
    assert agentic.per_model["base"].counts["misaligned"] == 1
    assert agentic.per_model["base"].n == 5
    assert json.loads((synthetic_run / "agentic" / "agentic_summary.json").read_text())


def test_cli_writes_the_page(synthetic_run, tmp_path):
    out = tmp_path / "page.html"
    result = CliRunner().invoke(app, ["report", str(synthetic_run), "--output", str(out)])
    assert result.exit_code == 0, result.output
    assert out.is_file() and str(out) in result.output


def test_run_data_is_typed(synthetic_run):
    data = collect_run(synthetic_run)
    assert isinstance(data.manifest, RunManifest)
    assert isinstance(data.collective[0], CollectiveStage)
    assert isinstance(data.collective[0].results, CollectiveResults)
    assert isinstance(data.training[0], TrainCurve) and data.training[0].points[-1].margin
    assert all(isinstance(m, Mix) and m.manifest_matches for m in data.mixes)
    assert data.ablations[0].baseline == "filter"
    assert {s.name: s.kind for s in data.stages}["agentic"] == "eval"


def test_a_valid_collective_results_json_is_no_warning(synthetic_run):
    data = collect_run(synthetic_run)
    assert data.warnings == []
    # Without the manifest's kinds the stage is recognised by its files.
    manifest = json.loads((synthetic_run / "manifest.json").read_text())
    manifest["config"]["stages"] = []
    (synthetic_run / "manifest.json").write_text(json.dumps(manifest))
    data = collect_run(synthetic_run)
    assert data.warnings == [] and data.collective
    assert "unreadable" not in render_report(data)


def test_a_broken_eval_results_json_is_still_named(synthetic_run):
    (synthetic_run / "evals" / "results.json").write_text('{"stage": "evals"}')
    warnings = collect_run(synthetic_run).warnings
    assert len(warnings) == 1 and "evals/results.json: unreadable" in warnings[0]


def test_raw_and_corrected_rates_and_inconclusive_wording(synthetic_run):
    html = render_report(collect_run(synthetic_run))
    assert "0.470 [0.120, 0.830]" in html  # evasiveness of base, corrected for the judge
    assert "inconclusive at n=8 vs 8: the difference&#39;s 95% interval includes 0" in html
    assert "inconclusive at n=8 vs 8: too few prompts" in html  # Elo on 8 prompts
    assert "n=8: too few items to read as a conclusion" in html
    assert "inconclusive at n=2 vs 2 seeds" in html  # the ablation


def _rate(model: str, k: int, n: int) -> ModelScore:
    from charter.feedback.stats import wilson_interval

    low, high = wilson_interval(k, n)
    return ModelScore(model=model, value=k / n, ci_low=low, ci_high=high, n=n)


def test_a_clear_difference_is_stated_and_a_small_one_is_not():
    def result(k_model: int, n: int) -> EvalResult:
        return EvalResult(
            name="evasiveness",
            suite="evasive",
            metric="rate",
            higher_is_better=False,
            baseline="base",
            per_model={"base": _rate("base", n // 2, n), "trained": _rate("trained", k_model, n)},
        )

    clear = compare_to_baseline(result(40, 400))[0]
    assert clear.conclusive and clear.words.startswith("better than base")
    assert clear.ci_high < 0
    close = compare_to_baseline(result(190, 400))[0]
    assert not close.conclusive and close.words.startswith("inconclusive at n=400 vs 400")
    tiny = compare_to_baseline(result(0, 10))[0]
    assert not tiny.conclusive and "inconclusive at n=10 vs 10" in tiny.words


def test_sections_show_each_stage_kind(synthetic_run):
    html = render_report(collect_run(synthetic_run))
    assert "8 logged steps" in html and "last reward margin 0.160" in html  # DPO train_log
    assert "MIX-DESCRIPTION contextualize" in html  # the mix card
    assert "Bare refusals in the SFT data" in html and "label margin" in html
    assert "Gini" in html and "Humanity vs self" in html and "Opinion groups" in html
    assert 'class="citation-row"' in html and ">verifies<" in html


def test_one_stylesheet_for_both_pages(synthetic_run):
    run_page = render_report(collect_run(synthetic_run))
    folder = synthetic_run / "collective"
    collective_page = render_collective(CollectiveResults.load(folder / "results.json"))
    assert STYLESHEET in run_page and STYLESHEET in collective_page
    assert run_page.count("<style>") == collective_page.count("<style>") == 1


def test_each_citation_shows_its_quote_leaf_and_proof(synthetic_run):
    citations = DraftCitations.load(synthetic_run / "collective" / "draft_citations.json")
    cite = citations.articles[0].cites[0]
    good = check_citation(cite, citations.root)
    assert good.proof_verifies and good.leaf_index == cite.leaf_index
    assert good.binding == "bound"
    misquoted = check_citation(
        cite.model_copy(update={"scenario": "words never deposited"}), citations.root
    )
    assert misquoted.proof_verifies and misquoted.binding == "mismatch"
    assert cite.scenario in good.quote
    tampered = cite.model_copy(update={"leaf_index": (cite.leaf_index + 1) % cite.tree_size})
    assert not check_citation(tampered, citations.root).proof_verifies
    # A citation written before quotes were bound still shows its proof, "not bound".
    old = cite.model_copy(update={"entry": None, "quote_sha256": None})
    view = check_citation(old, citations.root)
    assert view.proof_verifies and view.binding == "not bound"


def test_a_paired_test_decides_the_words_when_the_eval_made_one():
    from charter.evals.paired import paired_test

    base = {f"u{i}": True for i in range(40)}
    safer = {f"u{i}": i < 10 for i in range(40)}
    barely = {f"u{i}": i != 0 for i in range(40)}

    def result(outcomes: dict[str, bool]) -> EvalResult:
        trained = _rate("trained", sum(outcomes.values()), 40).model_copy(
            update={"paired": paired_test(outcomes, base, "base")}
        )
        return EvalResult(
            name="harmful_compliance",
            suite="refusal",
            metric="rate",
            higher_is_better=False,
            baseline="base",
            per_model={"base": _rate("base", 40, 40), "trained": trained},
        )

    clear = compare_to_baseline(result(safer))[0]
    assert clear.conclusive and clear.words.startswith("better than base by 0.750")
    assert "McNemar p=" in clear.words and "0 only trained, 30 only base" in clear.words
    close = compare_to_baseline(result(barely))[0]
    assert not close.conclusive and close.words.startswith("inconclusive at n=40")
    assert "McNemar p=1" in close.words


def test_a_judge_that_cannot_beat_chance_is_flagged_beside_its_result():
    from charter.feedback.card import CalibrationCard
    from charter.report.compare import judge_warnings

    def card(judge: str, low: float) -> CalibrationCard:
        return CalibrationCard(
            judge=judge, method="letter", model_id="m", gold="g.jsonl", gold_sha256="0" * 64,
            split="test", n=50, accuracy=low + 0.1, ci_low=low, ci_high=low + 0.2,
            macro_f1=0.4, labels=["A", "B"], confusion=[[1, 0], [0, 1]], ece=0.1,
        )  # fmt: skip

    helpful = EvalResult(name="helpfulness_elo", suite="pairwise", metric="elo")
    cards = [card("preference_helpfulness", 0.26), card("preference_harmlessness", 0.71)]
    (warning,) = judge_warnings(helpful, cards)
    assert "preference_helpfulness" in warning and "includes chance (0.50)" in warning
    harmless = EvalResult(name="harmlessness_elo", suite="pairwise", metric="elo")
    assert judge_warnings(harmless, cards) == []


def test_labels_that_cannot_beat_chance_say_so(synthetic_run):
    html = " ".join(render_report(collect_run(synthetic_run)).split())
    assert "toward (A) (+0.010) removed, its two orders picked the same winner in 1 of 1" in html
    assert "(one-sided sign test p = 0.5; no result on 1 pairs could pass): order" in html
    assert "inconclusive at n=1, so nothing shows these" in html
    stats_file = synthetic_run / "labels" / "label_stats.json"
    stats = json.loads(stats_file.read_text())
    stats["order_agreement"] |= {"agree": 6, "pairs": 6, "p_value": 1 / 64}
    stats_file.write_text(json.dumps(stats | {"labels_beat_chance": True}))
    html = " ".join(render_report(collect_run(synthetic_run)).split())
    assert "6 of 6 pairs (one-sided sign test p = 0.016): the labels follow the replies" in html
    assert "nothing shows these labels" not in html
    stats["order_agreement"] |= {"test": "spearman", "rho": 0.28, "p_value": 0.002}
    stats_file.write_text(json.dumps(stats | {"labels_beat_chance": True}))
    html = " ".join(render_report(collect_run(synthetic_run)).split())
    assert "Spearman rho = +0.28 across pairs (one-sided permutation p = 0.002)" in html
    assert "they picked the same winner in 6 of 6 pairs: the labels follow the replies" in html
