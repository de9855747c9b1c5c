"""The analysis end to end on the scripted backend, and the HTML page it becomes."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from charter.backends.scripted import HashingEmbedder, ScriptedChatModel
from charter.collective.analysis import AnalysisOptions, analyze
from charter.collective.report import render_report, write_report
from charter.collective.results import CollectiveResults
from charter.collective.wishes import load_wishes
from charter.constitution import load_constitution

DRAFT = json.dumps(
    {
        "title": "Care <b>",
        "rule": "Help people safely.",
        "rationale": "It matters.",
        "conflict_guidance": "Safety first.",
        "cites": ["w1", "w3"],
    }
)
SECTIONS = (
    "provenance",
    "concentration",
    "humanity",
    "self-serving",
    "group-map",
    "consensus",
    "coverage",
    "uncovered",
    "reconstruction",
    "draft",
)


def _reply(messages, params):
    text = messages[-1]["content"]
    return DRAFT if "Draft ONE article" in text else "A reply that helps."


def _choices(messages, options):
    text = messages[-1]["content"]
    if len(options) == 5:  # rubric: s high for product wishes, h high otherwise
        selfish = "recommend" in text.lower()
        high = selfish if "designed to benefit the person" in text else not selfish
        return [0.0 if (o == "5") == high else -6.0 for o in options]
    return [-0.2, -1.8]


@pytest.fixture(scope="module")
def analysed(tmp_path_factory):
    folder = tmp_path_factory.mktemp("collective")
    wishes = load_wishes("builtin:sample")
    rng = np.random.default_rng(0)
    votes = np.where(
        rng.random((wishes.size, 30)) < 0.3, rng.choice([1.0, -1.0], size=(wishes.size, 30)), np.nan
    )
    judge = ScriptedChatModel(_reply, _choices, model_id="scripted-judge")
    options = AnalysisOptions(judge_limit=12, reconstruction_limit=3, draft_articles=3)
    results = analyze(
        wishes,
        folder,
        HashingEmbedder(),
        load_constitution(),
        options,
        lambda m, s: {"model_id": m, "seed": s},
        lambda k: 7,
        judge=judge,
        votes=votes,
        progress=False,
    )
    return folder, results, judge


def test_results_hold_every_measure_with_provenance(analysed):
    folder, results, _ = analysed
    assert isinstance(results, CollectiveResults)
    assert results.ledger.size == len(results.wishes)
    assert results.humanity.rubric is not None and results.humanity.rubric.n == 12
    assert results.humanity.projection.auc_s is not None  # sample labels mapped
    assert results.groups.k >= 2
    assert results.consensus is not None and results.consensus.voters == 30
    assert results.fidelity.reconstruction is not None
    assert results.fidelity.reconstruction.overall.n == 3
    assert results.draft is not None and results.draft.articles
    assert json.loads((folder / "results.json").read_text())["ledger"]["root"]
    rubric = [json.loads(line) for line in (folder / "rubric.jsonl").read_text().splitlines()]
    assert all(r["provenance"]["model_id"] == "scripted-judge" for r in rubric)


def test_results_json_is_the_returned_model(analysed):
    folder, results, _ = analysed
    path = folder / "results.json"
    text = path.read_text(encoding="utf-8")
    loaded = CollectiveResults.load(path)
    assert loaded == results
    assert loaded.to_json() == text  # reading and writing back changes nothing
    raw = json.loads(text)
    assert raw == json.loads(results.to_json())
    wish = raw["wishes"][0]  # per-wish columns beyond the plots' are kept
    assert {"stake", "best_article", "coverage_similarity"} <= wish.keys()
    assert "representatives" in raw["groups"]["summaries"][0]


def test_rerun_asks_the_model_nothing_new(analysed, tmp_path):
    folder, results, judge = analysed
    calls = len(judge.calls)
    again = analyze(
        load_wishes("builtin:sample"),
        folder,
        HashingEmbedder(),
        load_constitution(),
        AnalysisOptions(judge_limit=12, reconstruction_limit=3, draft_articles=3),
        lambda m, s: {},
        lambda k: 7,
        judge=judge,
        progress=False,
    )
    assert len(judge.calls) == calls
    assert again.humanity.rubric == results.humanity.rubric


def test_html_is_self_contained_and_has_every_section(analysed, tmp_path):
    _, results, _ = analysed
    path = write_report(results, tmp_path / "report.html")
    page = path.read_text()
    for section in SECTIONS:
        assert f'id="{section}"' in page, section
    assert page.count("<svg") >= 4  # Lorenz, h/s, group map, coverage
    assert not re.search(r'(src|href)="(https?:)?//', page)  # nothing fetched from anywhere
    assert "Care &lt;b&gt;" in page  # model text is escaped
    assert results.ledger.root in page


def test_no_judge_report_still_renders(tmp_path):
    results = analyze(
        load_wishes("builtin:sample"),
        tmp_path,
        HashingEmbedder(),
        load_constitution(),
        AnalysisOptions(),
        lambda m, s: {},
        lambda k: 0,
        progress=False,
    )
    page = render_report(results)
    assert results.humanity.rubric is None and results.draft is None
    written = json.loads((tmp_path / "results.json").read_text())
    assert "rubric" not in written["humanity"]  # unset fields stay out of the file
    assert 'id="draft"' in page and "None:" in page


def test_raising_a_limit_only_adds_wishes_to_the_sample():
    from charter.collective.analysis import judged_sample

    wishes = load_wishes("builtin:sample")
    for small, large in ((4, 6), (3, 40)):
        assert set(judged_sample(wishes, small, 1, "rubric")) <= set(
            judged_sample(wishes, large, 1, "rubric")
        )


def test_page_shows_each_citation_with_its_proof(analysed):
    folder, results, _ = analysed
    page = write_report(results, folder / "page.html").read_text()
    assert 'id="citations"' in page and 'class="citation-row"' in page
    assert ">verifies<" in page and ">bound<" in page
    assert ">fails<" not in page


def test_reconstruction_on_few_wishes_reads_inconclusive(analysed):
    _, results, _ = analysed
    page = render_report(results)
    assert "inconclusive at n=3" in page  # 3 wishes: a Wilson interval that includes chance
