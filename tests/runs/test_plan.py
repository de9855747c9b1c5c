"""`charter plan` (estimates from templates and limits) and `--max-tokens-budget`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from charter.errors import ConfigError
from charter.runs import read_jsonl, run_experiment
from charter.runs.budget import BudgetedChatModel, BudgetExhausted, TokenBudget
from charter.runs.plan import parse_prices, parse_rates, plan_run
from run_rows import generation_rows

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = [
    ROOT / "configs" / name
    for name in ("quickstart.yaml", "experiment.yaml", "experiment_full.yaml")
]
NO_CALLS = {"ledger", "ledger_votes", "pretrain_mix"}
TRAINING = {"train_sft", "train_reward", "train_dpo", "train_grpo"}


def charter(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "charter.cli.main", *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_plan_covers_every_stage(path):
    config = yaml.safe_load(path.read_text())
    plan = plan_run(path)
    assert [s.name for s in plan.stages] == [s["name"] for s in config["stages"]]
    for stage in plan.stages:
        if stage.kind in NO_CALLS:
            assert stage.calls == 0 and stage.prompt_tokens == 0 and stage.seconds == 0
        elif stage.kind in TRAINING:
            assert stage.calls == 0 and stage.steps and stage.sequences and stage.seconds is None
        else:
            assert stage.calls > 0 and stage.prompt_tokens > 0 and stage.seconds > 0, stage.name
    assert plan.total.calls == sum(s.calls for s in plan.stages)
    assert plan.total.cost is None  # no prices given


def _with(tmp_path, path, **changes) -> Path:
    config = yaml.safe_load(path.read_text())
    for stage in config["stages"]:
        stage.update(changes.get(stage["name"], {}))
    out = tmp_path / path.name
    out.write_text(yaml.safe_dump(config))
    return out


def test_a_limit_scales_the_calls(tmp_path):
    quickstart = CONFIGS[0]
    small = {s.name: s for s in plan_run(quickstart).stages}
    big = {
        s.name: s
        for s in plan_run(
            _with(
                tmp_path,
                quickstart,
                policy_redteam={"limit": 12},
                sl_cai={"limit": 12},
                rl_cai_labels={"limit": 8},
            )
        ).stages
    }
    assert big["policy_redteam"].calls == 2 * small["policy_redteam"].calls
    assert big["policy_redteam"].completion_tokens == 2 * small["policy_redteam"].completion_tokens
    assert big["sl_cai"].calls == 2 * small["sl_cai"].calls
    assert big["rl_cai_labels"].calls == 2 * small["rl_cai_labels"].calls
    assert big["eval"].calls == small["eval"].calls  # untouched stages stay


def test_sl_cai_counts_rounds_and_the_quality_gate(tmp_path):
    quickstart = CONFIGS[0]
    detail = {e.purpose: e for e in _stage(plan_run(quickstart), "sl_cai").detail}
    assert detail["critique"].calls == detail["revision"].calls == 6  # limit 6, 1 round
    assert detail["quality judge battery"].calls == 6 * 2 * 2  # 2 fitted questions, 1 retry
    assert detail["quality judge battery"].upper_bound
    two = _with(tmp_path, quickstart, sl_cai={"rounds": 2})
    detail2 = {e.purpose: e for e in _stage(plan_run(two), "sl_cai").detail}
    assert detail2["critique"].calls == 12
    assert detail2["critique"].prompt_tokens > 2 * detail["critique"].prompt_tokens * 0.9


def test_rates_and_prices_give_time_and_cost():
    quickstart = CONFIGS[0]
    slow = plan_run(quickstart)
    fast = plan_run(
        quickstart,
        rates=parse_rates(["feedback=68/300", "policy=68/300"]),
        prices=parse_prices(["feedback=1/2"]),
    )
    collective = _stage(fast, "collective")  # only the feedback model
    assert collective.seconds == pytest.approx(_stage(slow, "collective").seconds / 2, abs=0.2)
    expected = (collective.prompt_tokens * 1 + collective.completion_tokens * 2) / 1e6
    assert collective.cost == pytest.approx(expected)
    assert _stage(fast, "policy_redteam").cost is None  # the policy has no price
    assert fast.rates["feedback"].source == "given"


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("--tokens-per-second", "feedback"),
        ("--tokens-per-second", "feedback=-1"),
        ("--price", "feedback=1"),
        ("--price", "nosuch=1/2"),
    ],
)
def test_bad_options_are_config_errors(option, value):
    with pytest.raises(ConfigError, match=option):
        if option == "--price":
            plan_run(CONFIGS[0], prices=parse_prices([value]))
        else:
            plan_run(CONFIGS[0], rates=parse_rates([value]))


def test_cli_json_parses_and_table_prints():
    done = charter("plan", str(CONFIGS[0]), "--json")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert {"stages", "total"} <= set(data)
    first = data["stages"][0]
    assert {
        "name",
        "kind",
        "calls",
        "prompt_tokens",
        "completion_tokens",
        "seconds",
        "cost",
        "detail",
    } <= set(first)
    assert data["total"]["calls"] == sum(s["calls"] for s in data["stages"])
    table = charter("plan", str(CONFIGS[0]), "--price", "feedback=0.1/0.4")
    assert table.returncode == 0 and "total" in table.stdout and "cost" in table.stdout


def test_cli_bad_config_is_one_line_exit_2(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nstages: [{name: a, kind: nosuch}]\n")
    for args in (
        ("plan", str(bad)),
        ("plan", str(tmp_path / "missing.yaml")),
        ("plan", str(CONFIGS[0]), "--price", "feedback"),
    ):
        done = charter(*args)
        assert done.returncode == 2
        assert done.stderr.startswith("error:") and len(done.stderr.strip().splitlines()) == 1


# -- the token budget -----------------------------------------------------------------------

SCRIPTED = {"backend": "scripted", "model": "echo"}


def _run_config(tmp_path, out: str, limit: int = 8) -> str:
    config = {
        "name": "b",
        "seed": 3,
        "output_dir": str(tmp_path / out),
        "models": {"m": SCRIPTED},
        "stages": [
            {"name": "gen", "kind": "generate", "model": "m", "limit": limit},
            {"name": "gen2", "kind": "generate", "model": "m", "limit": 3, "system": "Be brief."},
        ],
    }
    path = tmp_path / f"{out}.yaml"
    path.write_text(yaml.safe_dump(config))
    return str(path)


def test_budget_stops_mid_stage_and_a_rerun_completes(tmp_path):
    whole = run_experiment(_run_config(tmp_path, "whole"), progress=False)
    assert whole.budget is None and not whole.stopped_at_budget
    path = _run_config(tmp_path, "cut")
    # A scripted call costs a few dozen tokens (words of prompt and echo): 60 is 2-3 calls.
    cut = run_experiment(path, progress=False, max_tokens_budget=60)
    assert cut.stopped_at_budget and cut.budget["stopped_in"] == "gen"
    assert cut.budget["used"] >= 60
    partial = generation_rows(tmp_path / "cut", "gen")
    assert 0 < len(partial) < 8
    assert not (tmp_path / "cut" / "gen2").exists()  # later stages never started
    manifest = json.loads((tmp_path / "cut" / "manifest.json").read_text())
    assert manifest["stages"]["gen"]["stopped"] == "token budget"
    assert manifest["token_budget"]["exhausted"]

    rest = run_experiment(path, progress=False)
    assert rest.stages["gen"]["new"] == 8 - len(partial)
    for stage in ("gen", "gen2"):
        rows = generation_rows(tmp_path / "cut", stage)
        assert len({r["key"] for r in rows}) == len(rows)  # nothing duplicated
        expected = generation_rows(tmp_path / "whole", stage)
        assert sorted(rows, key=lambda r: r["key"]) == sorted(expected, key=lambda r: r["key"])


def test_budget_large_enough_runs_everything(tmp_path):
    summary = run_experiment(
        _run_config(tmp_path, "big"), progress=False, max_tokens_budget=1_000_000
    )
    assert not summary.stopped_at_budget
    assert summary.budget["used"] > 0 and summary.stages["gen2"]["done"] == 3


def test_cli_budget_line_and_exit_0(tmp_path):
    done = charter(
        "run", _run_config(tmp_path, "cli"), "--no-progress", "--max-tokens-budget", "60"
    )
    assert done.returncode == 0, done.stderr
    assert "stopped at the token budget (" in done.stdout
    assert "used); rerun to continue" in done.stdout


def test_budgeted_model_counts_choices_and_stops_before_calling():
    from charter.backends.base import GenerateParams
    from charter.backends.scripted import ScriptedChatModel

    inner = ScriptedChatModel()
    budget = TokenBudget(10)
    model = BudgetedChatModel(inner, budget)
    model.choice_logprobs([{"role": "user", "content": "x" * 40}], ["A", "B"])
    assert budget.used == 10 + 4 + 2  # 40 chars, one message's overhead, two 1-char choices
    with pytest.raises(BudgetExhausted):
        model.generate([{"role": "user", "content": "hi"}], GenerateParams())
    assert inner.calls == []  # the refused call never reached the model


def _stage(plan, name):
    return next(s for s in plan.stages if s.name == name)


def _sl_models() -> dict:
    """Scripted policy, critic and reviser whose replies the SL-CAI parsers accept."""
    from charter.backends.scripted import ScriptedChatModel

    def last_user(messages) -> str:
        return next(m["content"] for m in reversed(messages) if m["role"] == "user")

    def quoted(messages) -> str:  # the reply a critique or revision request quotes
        return last_user(messages).split("\nAssistant: ", 1)[1].split("\n\n", 1)[0]

    return {
        "policy": ScriptedChatModel(lambda m, p: f"initial<{last_user(m)[:20]}>", model_id="p"),
        "critic": ScriptedChatModel(lambda m, p: f"Critique: weak [{quoted(m)}]", model_id="c"),
        "reviser": ScriptedChatModel(lambda m, p: f"Revision: rev({quoted(m)})", model_id="r"),
    }


def _sl_ctx(folder: Path, models: dict):
    from charter.backends.registry import EmbedderSpec, ModelSpec
    from charter.constitution import load_constitution
    from charter.runs.config import RunConfig
    from charter.runs.context import RunContext

    config = RunConfig(
        name="t",
        seed=3,
        models={key: ModelSpec(backend="scripted", model=key) for key in models},
        embedder=EmbedderSpec(backend="hashing"),
        stages=[{"name": "sl", "kind": "sl_cai", "policy": "policy"}],
    )
    return RunContext(
        config=config,
        base_dir=folder,
        output_dir=folder / "out",
        constitution=load_constitution(),
        progress=False,
        _models=models,
    )


def test_budget_mid_sl_cai_then_resume_matches_an_uninterrupted_run(tmp_path):
    """A multi-call stage cut inside a chunk: finished chains stay, the rest redo the same."""
    from charter.cai.sl import SLCAISpec, run_sl_cai

    stage = SLCAISpec(
        name="sl",
        policy="policy",
        critic="critic",
        reviser="reviser",
        limit=4,
        chunk_size=2,
        article_draw="uniform",
        helpful_ratio=0.0,
    )

    def steps(ctx):
        rows = read_jsonl(ctx.output_dir / "sl" / "steps.jsonl")
        return sorted(
            ({k: v for k, v in r.items() if k != "created_at"} for r in rows),
            key=lambda r: r["key"],
        )

    whole = _sl_ctx(tmp_path / "whole", _sl_models())
    run_sl_cai(stage, whole)

    budget = TokenBudget(2000)  # the whole stage uses about 3,600 scripted tokens
    models = {k: BudgetedChatModel(m, budget) for k, m in _sl_models().items()}
    cut = _sl_ctx(tmp_path / "cut", models)
    with pytest.raises(BudgetExhausted):
        run_sl_cai(stage, cut)
    assert 0 < len(steps(cut)) < 4  # the first chunk finished, the second was cut
    resumed = _sl_ctx(tmp_path / "cut", _sl_models())
    run_sl_cai(stage, resumed)
    assert steps(resumed) == steps(whole)
