"""The run's request cache: a rerun recomputes only the model calls whose requests changed."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from charter.backends import CachedChatModel
from charter.runs import load_config, read_jsonl, run_experiment
from charter.runs.context import CACHE_FILE

DEFAULT_CONSTITUTION = Path("src/charter/constitution/data/default.yaml")


def write_config(tmp_path: Path, **overrides) -> str:
    """SL-CAI over six red-team prompts: per prompt one answer, critique and revision."""
    models = {
        role: {"backend": "scripted", "model": role} for role in ("policy", "critic", "reviser")
    }
    config = {
        "name": "t",
        "seed": 5,
        "output_dir": str(tmp_path / "out"),
        "constitution": "constitution.yaml",
        "embedder": {"backend": "hashing"},
        "models": models,
        "stages": [
            {
                "name": "sl",
                "kind": "sl_cai",
                **{role: role for role in models},
                "limit": 6,
                "helpful_ratio": 0,
                "article_draw": "uniform",  # which article a prompt draws ignores article text
            }
        ],
    }
    config.update(overrides)
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return str(path)


def manifest(tmp_path: Path) -> dict:
    return json.loads((tmp_path / "out" / "manifest.json").read_text())


def test_a_changed_article_recomputes_only_the_calls_that_quote_it(tmp_path):
    constitution = yaml.safe_load(DEFAULT_CONSTITUTION.read_text())
    (tmp_path / "constitution.yaml").write_text(yaml.safe_dump(constitution))
    path = write_config(tmp_path)
    run_experiment(path, progress=False)
    assert manifest(tmp_path)["cache"] == {"hits": 0, "misses": 18, "uncached": 0}
    assert (tmp_path / "out" / CACHE_FILE).is_file()
    steps = list(read_jsonl(tmp_path / "out" / "sl" / "steps.jsonl"))
    drawn = [row["chain"][0]["article_id"] for row in steps]
    changed = drawn[0]
    quoting = drawn.count(changed)
    assert 0 < quoting < len(drawn)

    article = next(a for a in constitution["articles"] if a["id"] == changed)
    article["critique_request"] += " Say which sentence is worst."
    article["revision_request"] += " Keep it short."
    (tmp_path / "constitution.yaml").write_text(yaml.safe_dump(constitution))
    summary = run_experiment(path, progress=False, restart=True)

    # The stage's fingerprint saw the new constitution and redid every row, but
    # only the critique and revision of the chains that drew the article ran again.
    assert summary.stages["sl"]["new"] == 6
    assert manifest(tmp_path)["cache"] == {
        "hits": 18 - 2 * quoting,
        "misses": 2 * quoting,
        "uncached": 0,
    }
    redone = {row["id"]: row for row in read_jsonl(tmp_path / "out" / "sl" / "steps.jsonl")}
    for row in steps:
        assert redone[row["id"]]["final_response"] == row["final_response"]


def test_the_cache_setting_changes_neither_hashes_nor_stage_fingerprints(tmp_path):
    (tmp_path / "constitution.yaml").write_text(DEFAULT_CONSTITUTION.read_text())
    cached = write_config(tmp_path)
    config, _ = load_config(cached)
    assert config.cache is True and config.dump()["cache"] is True
    run_experiment(cached, progress=False)
    stage_json = (tmp_path / "out" / "sl" / "stage.json").read_text()

    (tmp_path / "out" / CACHE_FILE).unlink()
    uncached = write_config(tmp_path, cache=False)
    assert load_config(uncached)[0].config_hash() == config.config_hash()
    # Same fingerprint: the finished stage resumes (no --restart needed), untouched.
    assert run_experiment(uncached, progress=False).stages["sl"]["new"] == 0
    assert (tmp_path / "out" / "sl" / "stage.json").read_text() == stage_json
    assert manifest(tmp_path)["cache"] is None
    assert not (tmp_path / "out" / CACHE_FILE).exists()


def test_models_are_wrapped_only_when_the_cache_is_on(tmp_path):
    from charter.constitution import load_constitution
    from charter.runs.context import RunContext

    (tmp_path / "constitution.yaml").write_text(DEFAULT_CONSTITUTION.read_text())
    for enabled in (True, False):
        config, base = load_config(write_config(tmp_path, cache=enabled))
        ctx = RunContext(config, base, tmp_path / "out", load_constitution())
        model = ctx.model("critic")
        assert isinstance(model, CachedChatModel) is enabled
        assert model.model_id == "scripted:critic"
        assert callable(model.choice_logprobs)
        if enabled:
            ctx.request_cache().close()
