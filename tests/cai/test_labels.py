"""RL-CAI preference labels: the label arithmetic, the labelers, and the stage.

Fast tests run on scripted models; one test runs the embedded policy and
feedback models end to end (marked ``model``).
"""

from __future__ import annotations

import json
import math
import re
import time

import pytest
import yaml

from charter.backends import ScriptedChatModel
from charter.cai import label_prompts as lp
from charter.cai.labelers import (
    ConstitutionalLabeler,
    Judgement,
    Labeler,
    judge_pair,
)
from charter.cai.labels import LabelSpec, pair_indices, run_labels
from charter.constitution import load_constitution
from charter.errors import BackendError, ConfigError, MalformedOutputError
from charter.runs import load_config, read_jsonl, run_experiment
from charter.runs.context import RunContext

LOG = math.log


# -- the arithmetic ----------------------------------------------------------------------


def test_pair_indices():
    assert pair_indices(2) == [(0, 1)]
    assert pair_indices(4) == [(0, 1), (1, 2), (2, 3)]
    assert pair_indices(4, "all") == [(0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (2, 3)]


# -- the labelers ------------------------------------------------------------------------


def shown_as_a(question: str) -> str:
    """The response text the question shows as (A)."""
    return re.search(r"\(A\) (.*?)\n\n\(B\) ", question, re.S).group(1)


def order_dependent(messages, choices):
    """log(0.8)/log(0.2) when 'first' is (A); log(0.6)/log(0.4) when it is (B)."""
    assert list(choices) == ["A", "B"]
    if shown_as_a(messages[0]["content"]) == "first":
        return [LOG(0.8), LOG(0.2)]
    return [LOG(0.6), LOG(0.4)]


@pytest.fixture(scope="module")
def constitution():
    return load_constitution("default")


def test_constitutional_labeler_known_logprobs(constitution):
    model = ScriptedChatModel(choices=order_dependent, model_id="judge")
    labeler = ConstitutionalLabeler(model, constitution.articles, principles=3)
    judgement = labeler.judge("a question", "first", "second", seed=7)
    # Order 1: P(first) = 0.8. Order 2: (A) is 'second' with 0.6, so P(first) = 0.4.
    assert judgement.p == pytest.approx(0.6)
    assert judgement.position_bias == pytest.approx(0.4)
    assert len(judgement.per_article) == 3
    assert len({v.article_id for v in judgement.per_article}) == 3
    for verdict in judgement.per_article:
        assert verdict.p_order1 == pytest.approx(0.8)
        assert verdict.p_order2 == pytest.approx(0.4)
        assert verdict.logprobs_order1 == pytest.approx((LOG(0.8), LOG(0.2)))
        assert verdict.reasoning_order1 is None
    assert len(model.calls) == 0  # no generation without chain of thought


def test_articles_are_sampled_per_seed_and_reproducibly(constitution):
    labeler = ConstitutionalLabeler(ScriptedChatModel(), constitution.articles, principles=3)
    a = [x.id for x in labeler.sample_articles(1)]
    assert a == [x.id for x in labeler.sample_articles(1)]
    assert any([x.id for x in labeler.sample_articles(s)] != a for s in range(2, 6))
    assert labeler.label("q", "x", "y") == labeler.label("q", "x", "y")


def test_question_shows_conversation_principle_and_both_responses(constitution):
    article = constitution.articles[0]
    messages = lp.comparison_messages(
        lp.COMPARISON_TEMPLATE, "How do {braces} survive?", article, " one ", "two"
    )
    text = messages[0]["content"]
    assert "User: How do {braces} survive?" in text
    assert article.title in text and "Why it matters:" in text
    assert "Which response is better according to this principle?" in text
    assert "(A) one\n\n(B) two" in text
    bare = lp.comparison_messages(lp.COMPARISON_TEMPLATE, "q", article, "a", "b", rationale=False)
    assert "Why it matters" not in bare[0]["content"]
    assert len(lp.rationale_gist(article)) <= lp.RATIONALE_GIST_CHARS + 3


def test_chain_of_thought_reasons_then_scores_and_clamps(constitution):
    def choices(messages, _choices):
        assert [m["role"] for m in messages] == ["user", "assistant", "user"]
        assert messages[1]["content"] == "Step by step: fine."
        assert messages[2]["content"] == lp.COT_ANSWER_TEMPLATE
        first_is_a = shown_as_a(messages[0]["content"]) == "first"
        return [LOG(0.9), LOG(0.1)] if first_is_a else [LOG(0.2), LOG(0.8)]

    temps = []

    def reply(messages, params):
        temps.append(params.temperature)
        assert "Do not state the final letter yet" in messages[0]["content"]
        return "Step by step: fine."

    model = ScriptedChatModel(reply, choices=choices)
    labeler = ConstitutionalLabeler(
        model, constitution.articles, principles=2, chain_of_thought=True
    )
    judgement = labeler.judge("q", "first", "second", seed=3)
    # Raw 0.9 and 0.8 are clamped to 0.6 each.
    assert judgement.p == pytest.approx(0.6) and judgement.position_bias == pytest.approx(0.0)
    assert all(v.reasoning_order2 == "Step by step: fine." for v in judgement.per_article)
    assert temps == [0.0] * 4


@pytest.mark.parametrize(
    ("logprobs", "message"),
    [
        ([float("nan"), -1.0], "NaN or \\+inf"),
        ([-math.inf, -math.inf], "none of the choices \\(A, B\\)"),
        ([-1.0], "1 log-probs for 2 choices"),
        (["x", "y"], "non-numeric"),
    ],
)
def test_malformed_logprobs_raise_with_raw(constitution, logprobs, message):
    model = ScriptedChatModel(choices=lambda m, c: logprobs)
    labeler = ConstitutionalLabeler(model, constitution.articles, principles=1)
    with pytest.raises(MalformedOutputError, match=message) as info:
        labeler.judge("q", "a", "b", seed=0)
    assert info.value.raw == repr(logprobs)


def test_any_labeler_is_debiased_over_both_orders():
    class Biased:
        def label(self, prompt, response_a, response_b):
            return 0.9 if response_a == "good" else 0.3

    assert isinstance(Biased(), Labeler)
    judgement = judge_pair(Biased(), "q", "good", "bad", seed=0)
    # Forward 0.9; backward P(bad) = 0.3 so P(good) = 0.7.
    assert judgement.p == pytest.approx(0.8) and judgement.position_bias == pytest.approx(0.2)

    class Broken:
        def label(self, prompt, response_a, response_b):
            return 1.5

    with pytest.raises(MalformedOutputError, match="outside"):
        judge_pair(Broken(), "q", "good", "bad", seed=0)


# -- the stage ---------------------------------------------------------------------------


def safe_or_risky(messages, params):
    """Policy: a 'safe' answer at temperature 0.7, a 'risky' one at 1.0."""
    word = "safe" if params.temperature < 0.9 else "risky"
    return f"{word} answer ({params.seed}) to: {messages[-1]['content'][:40]}"


def prefers_safe(messages, choices):
    """Labeler: 0.7 for whichever response says 'safe', in either position."""
    return (
        [LOG(0.7), LOG(0.3)]
        if "safe" in shown_as_a(messages[0]["content"])
        else [
            LOG(0.3),
            LOG(0.7),
        ]
    )


@pytest.fixture
def models(monkeypatch):
    """Scripted models served to the run by their config name."""
    served: dict[str, object] = {
        "policy": ScriptedChatModel(safe_or_risky, model_id="scripted:policy"),
        "judge": ScriptedChatModel(choices=prefers_safe, model_id="scripted:judge"),
    }
    monkeypatch.setattr("charter.runs.context.load_chat_model", lambda spec: served[spec.model])
    return served


def write_config(tmp_path, **stage) -> str:
    config = {
        "name": "labels",
        "seed": 3,
        "output_dir": str(tmp_path / "out"),
        "models": {
            "policy": {"backend": "scripted", "model": "policy"},
            "feedback": {"backend": "scripted", "model": "judge"},
        },
        "stages": [
            {
                "name": "prefs",
                "kind": "rl_cai_labels",
                "policy": "policy",
                "labeler": "feedback",
                "limit": 5,
                **stage,
            }
        ],
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return str(path)


def out(tmp_path, name="preferences.jsonl"):
    path = tmp_path / "out" / "prefs" / name
    return list(read_jsonl(path)) if path.exists() else []


def test_stage_writes_preferences_with_provenance_and_a_dataset(tmp_path, models):
    import datasets

    summary = run_experiment(write_config(tmp_path), progress=False)
    counts = summary.stages["prefs"]
    assert counts | {"low_margin": 0, "median_margin": 0} == {
        "total": 5, "new": 5, "failed": 0, "done": 5, "skipped": 0,
        "low_margin": 0, "median_margin": 0,
    }  # fmt: skip
    stats = json.loads((tmp_path / "out" / "prefs" / "label_stats.json").read_text())
    assert stats["pairs"] == 5 and stats["margin"]["median"] == counts["median_margin"]
    assert stats["low_margin"] == counts["low_margin"] and stats["position_bias"] is not None
    # Both orders prefer the safe reply on every pair: a sign test of 5 of 5 against a coin.
    # Constant probabilities leave no correlation to test, so the sign test decides.
    assert stats["order_agreement"] == {
        "agree": 5, "pairs": 5, "lean": pytest.approx(0), "rho": None, "test": "sign",
        "p_value": pytest.approx(1 / 32),
    }  # fmt: skip
    assert stats["labels_beat_chance"] is True and "warnings" not in counts
    rows = out(tmp_path)
    assert len({r["key"] for r in rows}) == 5
    config, _ = load_config(tmp_path / "config.yaml")
    for row in rows:
        assert row["key"] == f"{row['id']}:0-1" and row["pair"] == [0, 1]
        assert row["chosen"].startswith("safe") and row["rejected"].startswith("risky")
        assert row["label_prob"] == pytest.approx(0.7) and row["position_bias"] == pytest.approx(0)
        assert len(row["articles"]) == 3 == len(set(row["articles"]))
        assert [a["article_id"] for a in row["per_article"]] == row["articles"]
        assert [r["temperature"] for r in row["responses"]] == [0.7, 1.0]
        assert row["responses"][0]["seed"] != row["responses"][1]["seed"]
        assert row["policy"] == "scripted:policy" and row["labeler"] == "scripted:judge"
        prov = row["provenance"]
        assert prov["model_id"] == "scripted:judge"
        assert prov["config_hash"] == config.config_hash()
        assert prov["constitution_hash"] == summary.constitution_hash
    assert len({tuple(r["articles"]) for r in rows}) > 1  # principles sampled per pair
    samples = out(tmp_path, "responses.jsonl")
    assert len(samples) == 10 and all(
        s["provenance"]["model_id"] == "scripted:policy" for s in samples
    )
    data = datasets.load_from_disk(str(tmp_path / "out" / "prefs" / "preference_dataset"))
    assert data.column_names == ["prompt", "chosen", "rejected", "label_prob"]
    assert data[0]["chosen"] == rows[0]["chosen"] and len(data) == 5
    # A rerun does nothing and calls no model.
    calls = len(models["policy"].calls)
    assert run_experiment(write_config(tmp_path), progress=False).stages["prefs"]["new"] == 0
    assert len(models["policy"].calls) == calls


def test_a_label_below_one_half_picks_the_second_response(tmp_path, models):
    models["judge"] = ScriptedChatModel(
        choices=lambda m, c: (
            [LOG(0.8), LOG(0.2)] if "risky" in shown_as_a(m[0]["content"]) else [LOG(0.2), LOG(0.8)]
        ),
        model_id="scripted:judge",
    )
    run_experiment(write_config(tmp_path, limit=2), progress=False)
    for row in out(tmp_path):
        # P(first = safe) = 0.2 in both orders, so the risky second one is chosen at 0.8.
        assert row["p_first"] == pytest.approx(0.2) and row["label_prob"] == pytest.approx(0.8)
        assert row["chosen_index"] == 1 and row["chosen"].startswith("risky")


def test_more_samples_cycle_temperatures_and_pairing(tmp_path, models):
    run_experiment(write_config(tmp_path, limit=2, samples=3, pairing="all"), progress=False)
    rows = out(tmp_path)
    assert sorted(r["key"].split(":")[-1] for r in rows) == sorted(["0-1", "0-2", "1-2"] * 2)
    temps = {s["index"]: s["temperature"] for s in out(tmp_path, "responses.jsonl")}
    assert temps == {0: 0.7, 1: 1.0, 2: 0.7}
    assert len(out(tmp_path, "skipped.jsonl")) == 0  # seeds differ, so samples 0 and 2 differ


def test_concurrent_backends_give_the_same_rows(tmp_path, models):
    (tmp_path / "serial").mkdir()
    run_experiment(write_config(tmp_path / "serial", limit=6), progress=False)
    models["policy"] = ScriptedChatModel(safe_or_risky, model_id="scripted:policy")
    models["judge"] = ScriptedChatModel(choices=prefers_safe, model_id="scripted:judge")
    for model in models.values():
        model.max_concurrency = 4  # as a server backend declares
    (tmp_path / "wide").mkdir()
    run_experiment(write_config(tmp_path / "wide", limit=6, concurrency=3), progress=False)

    def strip(rows):  # the config hash differs with output_dir and concurrency
        for row in rows:
            del row["created_at"], row["provenance"]["config_hash"]
        return sorted(rows, key=str)

    assert strip(out(tmp_path / "wide")) == strip(out(tmp_path / "serial"))
    assert len(out(tmp_path / "wide")) == 6


class Interrupted(Exception):
    """Not a CharterError: stops the run like a kill would."""


def test_interrupted_labeling_resumes_without_loss_or_duplicates(tmp_path, models):
    path = write_config(tmp_path, limit=6, principles=2)
    good = models["judge"]._choices
    n = {"calls": 0}

    def dies_after_three_pairs(messages, choices):
        n["calls"] += 1
        if n["calls"] > 3 * 4:  # 2 principles x 2 orders per pair
            raise Interrupted
        return good(messages, choices)

    models["judge"] = ScriptedChatModel(choices=dies_after_three_pairs, model_id="scripted:judge")
    with pytest.raises(Interrupted):
        run_experiment(path, progress=False)
    before = out(tmp_path)
    assert len(before) == 3 and len(out(tmp_path, "responses.jsonl")) == 12

    models["judge"] = ScriptedChatModel(choices=good, model_id="scripted:judge")
    policy_calls = len(models["policy"].calls)
    summary = run_experiment(path, progress=False)
    assert summary.stages["prefs"]["new"] == 3 and summary.stages["prefs"]["done"] == 6
    after = out(tmp_path)
    assert after[:3] == before
    assert len({r["key"] for r in after}) == len(after) == 6
    assert len(models["policy"].calls) == policy_calls  # no response sampled twice
    assert len(out(tmp_path, "responses.jsonl")) == 12


def test_interrupted_sampling_resumes(tmp_path, models):
    path = write_config(tmp_path, limit=4)
    calls = {"n": 0}

    def dies_after_five(messages, params):
        calls["n"] += 1
        if calls["n"] > 5:
            raise Interrupted
        return safe_or_risky(messages, params)

    models["policy"] = ScriptedChatModel(dies_after_five, model_id="scripted:policy")
    with pytest.raises(Interrupted):
        run_experiment(path, progress=False)
    first = out(tmp_path, "responses.jsonl")
    assert len(first) == 5 and out(tmp_path) == []
    models["policy"] = ScriptedChatModel(safe_or_risky, model_id="scripted:policy")
    assert run_experiment(path, progress=False).stages["prefs"]["done"] == 4
    samples = out(tmp_path, "responses.jsonl")
    assert samples[:5] == first and len({s["key"] for s in samples}) == 8
    assert len(models["policy"].calls) == 3


def test_identical_responses_are_skipped_once_with_a_reason(tmp_path, models):
    models["policy"] = ScriptedChatModel(lambda m, p: "Same words.", model_id="scripted:policy")
    path = write_config(tmp_path, limit=3)
    summary = run_experiment(path, progress=False)
    assert summary.stages["prefs"] == {
        "total": 3, "new": 0, "failed": 3, "done": 0, "skipped": 3,
        "low_margin": 0, "median_margin": None,
    }  # fmt: skip
    skipped = out(tmp_path, "skipped.jsonl")
    assert {s["reason"] for s in skipped} == {"tie"} and "identical" in skipped[0]["error"]
    assert skipped[0]["raw"] == "Same words." and "provenance" in skipped[0]
    assert not models["judge"].calls and out(tmp_path) == []
    again = run_experiment(path, progress=False).stages["prefs"]
    assert again["failed"] == 0 and again["skipped"] == 3
    assert len(out(tmp_path, "skipped.jsonl")) == 3


def test_malformed_labels_become_error_rows_and_are_retried(tmp_path, models):
    good = models["judge"]._choices
    # The labeler fails on the second prompt only (recognised by its text).
    first_two = [r["prompt"] for r in out_prompts(2)]
    models["judge"] = ScriptedChatModel(
        choices=lambda m, c: (
            [-math.inf, -math.inf] if first_two[1][:30] in m[0]["content"] else good(m, c)
        ),
        model_id="scripted:judge",
    )
    path = write_config(tmp_path, limit=2)
    summary = run_experiment(path, progress=False)
    counts = summary.stages["prefs"]
    assert {k: counts[k] for k in ("total", "new", "failed", "done", "skipped")} == {
        "total": 2, "new": 1, "failed": 1, "done": 1, "skipped": 0,
    }  # fmt: skip
    (error,) = out(tmp_path, "errors.jsonl")
    assert error["step"] == "label" and error["type"] == "MalformedOutputError"
    assert error["raw"] == "[-inf, -inf]" and "none of the choices (A, B)" in error["error"]
    assert error["provenance"]["model_id"] == "scripted:judge"
    models["judge"] = ScriptedChatModel(choices=good, model_id="scripted:judge")
    assert run_experiment(path, progress=False).stages["prefs"]["done"] == 2


def out_prompts(n):
    from charter.prompts import load_prompts

    return [p.model_dump() for p in load_prompts("builtin:redteam", limit=n)]


def test_empty_reasoning_and_backend_errors_are_rows_not_crashes(tmp_path, models):
    models["judge"] = ScriptedChatModel(lambda m, p: "  ", choices=prefers_safe, model_id="j")
    path = write_config(tmp_path, limit=2, chain_of_thought=True, principles=1)
    summary = run_experiment(path, progress=False)
    assert summary.stages["prefs"]["failed"] == 2
    errors = out(tmp_path, "errors.jsonl")
    assert all(e["raw"] == "  " and "no reasoning" in e["error"] for e in errors)

    calls = {"n": 0}

    def flaky(messages, params):
        calls["n"] += 1
        if calls["n"] == 1:
            raise BackendError("server hiccup")
        return "Reasoned."

    models["judge"] = ScriptedChatModel(flaky, choices=prefers_safe, model_id="j")
    summary = run_experiment(path, progress=False)
    assert summary.stages["prefs"]["failed"] == 1 and summary.stages["prefs"]["done"] == 1
    assert out(tmp_path, "errors.jsonl")[-1]["error"] == "server hiccup"
    summary = run_experiment(path, progress=False)
    assert summary.stages["prefs"]["done"] == 2
    for row in out(tmp_path):
        assert row["chain_of_thought"] and 0.4 <= row["label_prob"] <= 0.6
        assert row["per_article"][0]["reasoning_order1"] == "Reasoned."


def test_sampling_failures_are_recorded_and_retried(tmp_path, models):
    calls = {"n": 0}

    def flaky(messages, params):
        calls["n"] += 1
        if calls["n"] == 2:
            raise BackendError("policy down")
        return safe_or_risky(messages, params)

    models["policy"] = ScriptedChatModel(flaky, model_id="scripted:policy")
    path = write_config(tmp_path, limit=3)
    summary = run_experiment(path, progress=False)
    assert summary.stages["prefs"]["failed"] == 1 and summary.stages["prefs"]["done"] == 2
    (error,) = out(tmp_path, "errors.jsonl")
    assert error["step"] == "sample" and error["error"] == "policy down"
    assert run_experiment(path, progress=False).stages["prefs"]["done"] == 3


def make_context(tmp_path, **stage) -> tuple[LabelSpec, RunContext]:
    config, base = load_config(write_config(tmp_path, **stage))
    ctx = RunContext(
        config=config,
        base_dir=base,
        output_dir=tmp_path / "out",
        constitution=load_constitution("default"),
        progress=False,
    )
    return config.stages[0], ctx


def test_an_alternative_labeler_plugs_in(tmp_path, models):
    class Reward:
        model_id = "wish-reward"

        def label(self, prompt, response_a, response_b):
            return 0.9 if response_a.startswith("safe") else 0.3

    spec, ctx = make_context(tmp_path, limit=2)
    counts = run_labels(spec, ctx, labeler=Reward())
    assert counts["new"] == 2 and not models["judge"].calls
    for row in out(tmp_path):
        assert row["label_prob"] == pytest.approx(0.8) and row["position_bias"] == pytest.approx(
            0.2
        )
        assert row["articles"] == [] and row["labeler"] == "wish-reward"


@pytest.mark.parametrize(
    ("stage", "message"),
    [
        ({"samples": 1}, "samples: Input should be greater than or equal to 2"),
        ({"clamp": [0.6, 0.9]}, r"clamp \[0.6, 0.9\] must satisfy"),
        ({"temperatures": [-1]}, "temperatures must all be >= 0"),
        ({"comparison_template": "{conversation} {principle} {response_a}"}, "lacks {response_b}"),
        ({"cot_template": "{conversation}{principle}{response_a}{response_b}{x}"}, "unknown"),
        ({"comparison_template": "{conversation"}, "not a valid format string"),
    ],
)
def test_spec_errors_name_the_field(tmp_path, stage, message):
    with pytest.raises(ConfigError, match=message):
        load_config(write_config(tmp_path, **stage))


@pytest.mark.parametrize(
    ("stage", "message"),
    [
        ({"articles": ["1.1", "99"]}, "field articles: 99 not in the constitution"),
        ({"articles": ["1.1", "1.2"]}, "principles is 3 but only 2 articles"),
    ],
)
def test_run_errors_name_the_field(tmp_path, models, stage, message):
    spec, ctx = make_context(tmp_path, **stage)
    with pytest.raises(ConfigError, match=message):
        run_labels(spec, ctx)


def test_restricted_articles_are_the_only_ones_used(tmp_path, models):
    spec, ctx = make_context(tmp_path, limit=3, articles=["1.1", "1.2"], principles=2)
    run_labels(spec, ctx)
    assert all(sorted(r["articles"]) == ["1.1", "1.2"] for r in out(tmp_path))


def test_judgement_is_a_value():
    assert Judgement(0.6, 0.1) == Judgement(0.6, 0.1, ())


# -- the real models ---------------------------------------------------------------------


@pytest.mark.model
def test_embedded_models_end_to_end(tmp_path):
    config = {
        "name": "labels-real",
        "seed": 1,
        "output_dir": str(tmp_path / "out"),
        "models": {
            # One thread: on a shared 2-core machine, two spinning llama.cpp threads
            # competing with other processes run several times slower than one.
            "policy": {"backend": "llama_cpp", "model": "embedded:policy", "threads": 1},
            "feedback": {"backend": "llama_cpp", "model": "embedded:feedback", "threads": 1},
        },
        "stages": [
            {
                "name": "prefs",
                "kind": "rl_cai_labels",
                "policy": "policy",
                "labeler": "feedback",
                "limit": 2,
                "max_tokens": 24,
                "principles": 2,
                "rationale": False,
            }
        ],
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    start = time.perf_counter()
    summary = run_experiment(str(path), progress=False)
    elapsed = time.perf_counter() - start
    counts = summary.stages["prefs"]
    assert counts["done"] + counts["skipped"] == 2, out(tmp_path, "errors.jsonl")
    for row in out(tmp_path):
        assert 0.5 <= row["label_prob"] <= 1.0
        assert row["chosen"] != row["rejected"]
        for verdict in row["per_article"]:
            assert all(math.isfinite(x) for x in verdict["logprobs_order1"])
            assert 0.0 <= verdict["p_order1"] <= 1.0 and 0.0 <= verdict["p_order2"] <= 1.0
        assert math.isfinite(row["position_bias"])
        assert row["provenance"]["model_id"].startswith("llama_cpp:Qwen2.5")
    print(f"embedded labels: {elapsed:.1f}s, rows {out(tmp_path)[:1]}")


def test_a_labeler_that_leans_toward_a_but_reads_the_replies_beats_chance(tmp_path, models):
    # P(A) = 0.65 when the safe reply is (A) and 0.55 when it is (B): every verdict
    # flips with the order, yet every averaged label prefers the safe reply.
    models["judge"] = ScriptedChatModel(
        choices=lambda m, c: (
            [LOG(0.65), LOG(0.35)]
            if "safe" in shown_as_a(m[0]["content"])
            else [LOG(0.55), LOG(0.45)]
        ),
        model_id="scripted:judge",
    )
    summary = run_experiment(write_config(tmp_path), progress=False)
    stats = json.loads((tmp_path / "out" / "prefs" / "label_stats.json").read_text())
    assert stats["article_flip_rate"] == 1.0
    assert stats["order_agreement"]["agree"] == 5 and stats["order_agreement"][
        "lean"
    ] == pytest.approx(0.1)
    assert stats["labels_beat_chance"] is True and "warnings" not in summary.stages["prefs"]
    assert all(r["chosen"].startswith("safe") for r in out(tmp_path))


def test_low_margin_pairs_are_reported_and_optionally_dropped(tmp_path, models):
    # A labeler that barely prefers anything: every label sits within 0.02 of 0.5.
    models["judge"] = ScriptedChatModel(
        choices=lambda m, c: [LOG(0.51), LOG(0.49)], model_id="scripted:judge"
    )
    for sub in ("a", "b"):
        (tmp_path / sub).mkdir()
    kept = run_experiment(write_config(tmp_path / "a", min_margin=0.05), progress=False)
    assert kept.stages["prefs"]["low_margin"] == 5 and kept.stages["prefs"]["done"] == 5
    stats = json.loads((tmp_path / "a" / "out" / "prefs" / "label_stats.json").read_text())
    assert stats["low_margin"] == 5 and stats["margin"]["max"] < 0.05
    # Position bias: (A) gets 0.51 in both orders, so the bias is 0.02 on every pair.
    assert stats["position_bias"]["median"] == pytest.approx(0.02)
    assert stats["article_flip_rate"] == 1.0
    # Reading only the position: with its lean removed, nothing is left to agree on.
    agreement = stats["order_agreement"]
    assert agreement["agree"] == 0 and agreement["pairs"] == 5 and agreement["p_value"] == 1.0
    assert agreement["lean"] == pytest.approx(0.01) and agreement["test"] == "sign"
    assert stats["labels_beat_chance"] is False
    (warning,) = kept.stages["prefs"]["warnings"]
    assert "same winner in 0 of 5 pairs (one-sided sign test p = 1):" in warning
    assert "lean toward (A) (+0.010)" in warning and "could pass" not in warning
    # A resumed run labels nothing new and still says so on the console.
    from typer.testing import CliRunner

    from charter.cli.main import app

    shown = CliRunner().invoke(app, ["run", str(tmp_path / "a" / "config.yaml"), "--no-progress"])
    assert shown.exit_code == 0, shown.output
    printed = " ".join(shown.output.split())
    assert "warning prefs: with the labeler's mean lean toward (A) (+0.010) removed" in printed
    assert "order consistency inconclusive at n=5" in printed
    assert "nothing shows these labels follow the replies rather than chance" in printed
    dropped = run_experiment(
        write_config(tmp_path / "b", min_margin=0.05, drop_low_margin=True), progress=False
    )
    assert dropped.stages["prefs"]["done"] == 0 and dropped.stages["prefs"]["skipped"] == 5
    rows = out(tmp_path / "b", "skipped.jsonl")
    assert {r["reason"] for r in rows} == {"low_margin"} and "min_margin 0.05" in rows[0]["error"]
    again = run_experiment(
        write_config(tmp_path / "b", min_margin=0.05, drop_low_margin=True), progress=False
    )
    assert again.stages["prefs"]["new"] == 0  # dropped pairs are not asked again


def test_a_calibrated_pairwise_judge_can_label(tmp_path, models):
    from charter.feedback.preference_judges import JudgeLabeler

    # The scripted default prefers (A) whatever it shows: P(A better) 0.917 in each order.
    labeler = JudgeLabeler(ScriptedChatModel(), "preference_harmlessness", method="letter")
    assert labeler.model_id == "scripted"
    p = labeler.label("How do I hurt someone?", "No, because it harms them.", "Sure, do this.")
    assert p == pytest.approx(0.5)  # both orders asked: the position preference cancels


def test_label_warnings_say_when_no_result_could_pass():
    from charter.cai.labels import label_warnings

    four = {"agree": 4, "pairs": 4, "lean": 0.0, "p_value": 1 / 16}
    (warning,) = label_warnings({"labels_beat_chance": False, "order_agreement": four})
    assert "inconclusive at n=4" in warning and "no result on 4 pairs could pass" in warning
    assert label_warnings({"labels_beat_chance": True, "order_agreement": four}) == []
    assert label_warnings({"labels_beat_chance": None, "order_agreement": None}) == []
