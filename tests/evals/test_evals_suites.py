"""The suite registry: every suite by name, its Inspect task, and `charter eval suites`."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from charter.errors import ConfigError
from charter.evals import inspect_tasks
from charter.evals.suites import BUILTIN, all_suites, get_suite, register, suite_names

EXPECTED = {
    "pairwise": "harmlessness_vs_reference",
    "evasive": "evasiveness",
    "refusal": "over_refusal",
    "conflicts": "conflicts",
    "agentic": "charter_agentic",
}


def test_the_registry_lists_every_suite_in_order():
    assert suite_names()[: len(BUILTIN)] == list(BUILTIN) == list(EXPECTED)
    assert {s.name: s.inspect_task for s in all_suites()} == EXPECTED
    assert [s.name for s in all_suites() if s.opt_in] == ["agentic"]
    for suite in all_suites():
        assert suite.default_limit >= 1 and suite.description
        assert callable(getattr(inspect_tasks, suite.inspect_task))


def test_unknown_and_clashing_names_are_config_errors():
    with pytest.raises(ConfigError, match="no eval suite 'vibes'; choose from pairwise"):
        get_suite("vibes")
    with pytest.raises(ConfigError, match="clashes with the registered suite 'evasive'"):
        register(type("Copy", (), {"name": "evasive", "inspect_task": "other"})())
    assert register(get_suite("evasive")) is get_suite("evasive")  # the same one: a no-op


def test_cli_lists_every_suite_with_its_inspect_task():
    from charter.cli.main import app

    result = CliRunner().invoke(app, ["eval", "suites", "--json"])
    assert result.exit_code == 0, result.output
    listed = json.loads(result.output)["suites"]
    assert {s["name"]: s["inspect_task"] for s in listed} == EXPECTED
    table = CliRunner().invoke(app, ["eval", "suites"])
    assert table.exit_code == 0
    assert all(name in table.output for name in [*EXPECTED, *EXPECTED.values()])
