"""The report page: sections for what a run holds, escaping, provenance, the CLI."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from charter.cli.main import app
from charter.errors import DatasetError
from charter.report import collect_run, render_report, write_report

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
