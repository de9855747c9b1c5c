"""Local models on Ray actors (``charter run --engine ray``): same replies, same rows."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import yaml

from charter.backends import GenerateParams, generate_many
from charter.backends.registry import ModelSpec, load_chat_model
from charter.errors import BackendError
from charter.runs import run_experiment
from run_rows import generation_rows

pytest.importorskip("ray")

SCRIPTED = ModelSpec(backend="scripted", model="echo")
PROMPTS = ["Name a fruit.", "Say hello.", "Count to three.", "What is rain?", "Be brief."]


@pytest.fixture(scope="module")
def ray_cluster():
    import ray

    yield
    ray.shutdown()


@pytest.fixture
def scripted_pool(ray_cluster):  # closed after each test: its CPUs go back to the cluster
    from charter.backends.ray_pool import RayModelPool

    with RayModelPool(SCRIPTED, actors=2) as pool:
        yield pool


def _requests(n: int = 5, max_tokens: int = 16):
    return [
        (i, [{"role": "user", "content": PROMPTS[i % len(PROMPTS)]}],
         GenerateParams(max_tokens=max_tokens, temperature=0.7, seed=100 + i))
        for i in range(n)
    ]  # fmt: skip


def _texts(model, requests) -> dict[int, str]:
    out = dict(generate_many(model, requests))
    return {k: v.text for k, v in out.items()}


def test_a_scripted_pool_answers_as_the_model_does(scripted_pool):
    local = load_chat_model(SCRIPTED)
    assert scripted_pool.max_concurrency == 2
    assert scripted_pool.model_id == local.model_id == "scripted:echo"
    requests = _requests()
    assert _texts(scripted_pool, requests) == _texts(local, requests)
    messages, choices = requests[0][1], ["A", "B", "C"]
    assert scripted_pool.choice_logprobs(messages, choices) == local.choice_logprobs(
        messages, choices
    )
    assert not hasattr(scripted_pool, "prompt_tokens")  # only what the model has
    assert scripted_pool.context_window is None


def test_an_error_in_an_actor_comes_back_as_itself(scripted_pool):
    with pytest.raises(BackendError, match="messages is empty"):
        scripted_pool.generate([], GenerateParams())
    with pytest.raises(BackendError, match="choices is empty"):
        scripted_pool.choice_logprobs([{"role": "user", "content": "x"}], [])
    # To the batch helpers it is a per-row failure, and the other rows still arrive.
    good = _requests(2)
    out = dict(generate_many(scripted_pool, [*good, ("bad", [], GenerateParams())]))
    assert type(out["bad"]) is BackendError and out[0].text and out[1].text


def test_a_pool_larger_than_the_cluster_is_refused(scripted_pool, monkeypatch):
    from charter.backends import ray_pool
    from charter.backends.ray_pool import RayModelPool

    monkeypatch.setattr(ray_pool, "FREE_WAIT_S", 0.5)  # no actor is closing: fail fast
    with pytest.raises(BackendError, match="Use fewer actors"):
        RayModelPool(SCRIPTED, actors=64)


@pytest.mark.model
def test_llama_cpp_on_two_actors_matches_in_process(ray_cluster, policy_llama):
    from charter.backends.ray_pool import RayModelPool

    spec = ModelSpec(backend="llama_cpp", model="embedded:policy", n_ctx=2048)
    requests = _requests(6)
    with RayModelPool(spec, actors=2) as pool:  # one thread per actor vs all cores here
        assert pool.model_id == policy_llama.model_id
        remote = _texts(pool, requests)
        # Eval suites check prompt length against the window through the pool too.
        assert pool.prompt_tokens(requests[0][1]) == policy_llama.prompt_tokens(requests[0][1])
        assert pool.context_window == 2048
    assert remote == _texts(policy_llama, requests)
    assert len(set(remote.values())) > 1  # real, varied replies


# -- a run started in-process and finished on Ray ---------------------------------------------


SCRIPTED_M = {"backend": "scripted", "model": "echo"}
POLICY_M = {"backend": "llama_cpp", "model": "embedded:policy", "n_ctx": 1024}


def _config(tmp_path, out: str, model: dict = SCRIPTED_M) -> str:
    config = {
        "name": "r",
        "seed": 3,
        "output_dir": str(tmp_path / out),
        "models": {"m": model},
        "stages": [
            {"name": "gen", "kind": "generate", "model": "m", "limit": 8, "max_tokens": 16},
            {"name": "gen2", "kind": "generate", "model": "m", "limit": 3, "max_tokens": 16,
             "system": "Be brief."},
        ],
    }  # fmt: skip
    path = tmp_path / f"{out}.yaml"
    path.write_text(yaml.safe_dump(config))
    return str(path)


LLAMA = pytest.param(POLICY_M, marks=pytest.mark.model, id="llama")


@pytest.mark.parametrize("model", [pytest.param(SCRIPTED_M, id="scripted"), LLAMA])
def test_a_run_started_in_process_resumes_on_ray(tmp_path, ray_cluster, model):
    run_experiment(_config(tmp_path, "whole", model), progress=False)
    path = _config(tmp_path, "cut", model)
    cut = run_experiment(path, progress=False, max_tokens_budget=60)  # a few calls
    partial = generation_rows(tmp_path / "cut", "gen")
    assert cut.stopped_at_budget and 0 < len(partial) < 8

    rest = run_experiment(path, progress=False, engine="ray", actors=2)
    assert rest.stages["gen"]["new"] == 8 - len(partial)  # the finished rows are kept
    for stage in ("gen", "gen2"):
        rows = generation_rows(tmp_path / "cut", stage)
        assert len({r["key"] for r in rows}) == len(rows)  # nothing duplicated
        expected = generation_rows(tmp_path / "whole", stage)
        assert sorted(rows, key=lambda r: r["key"]) == sorted(expected, key=lambda r: r["key"])
    assert generation_rows(tmp_path / "cut", "gen")[: len(partial)] == partial
    manifest = json.loads((tmp_path / "cut" / "manifest.json").read_text())
    assert manifest["engine"] == {"kind": "ray", "actors": 2, "cpus_per_actor": 1.0}
    local_id = json.loads((tmp_path / "whole" / "manifest.json").read_text())
    assert manifest["models"]["m"]["model_id"] == local_id["models"]["m"]["model_id"]
    # And back: the same config in-process has nothing left to do.
    again = run_experiment(path, progress=False)
    assert again.stages["gen"]["new"] == again.stages["gen2"]["new"] == 0


def test_cli_rejects_an_unknown_engine_in_one_line(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "charter.cli.main", "run", _config(tmp_path, "x"),
         "--engine", "bogus"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "--engine" in lines[0] and "'local', 'ray'" in lines[0]


def test_run_experiment_rejects_bad_engine_settings(tmp_path):
    from charter.errors import ConfigError

    with pytest.raises(ConfigError, match="use local or ray"):
        run_experiment(_config(tmp_path, "y"), engine="bogus")
    with pytest.raises(ConfigError, match="--actors 0"):
        run_experiment(_config(tmp_path, "y"), engine="ray", actors=0)
