"""The wish-sampled reward: estimates, determinism, relevance, TRL, HTTP, and RL-CAI labels."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
import yaml

from charter.backends import HashingEmbedder, ScriptedChatModel
from charter.collective.labeler import WishRewardLabeler
from charter.collective.reward import (
    JUDGE_CHOICES,
    WishReward,
    completion_text,
    prompt_text,
    weighted_estimate,
)
from charter.collective.weights import InfluencePolicy
from charter.collective.wishes import load_wishes
from charter.errors import BackendError, ConfigError
from charter.ledger import Ledger, LogKey, sign_entry
from charter.runs import read_jsonl, run_experiment

T0 = datetime(2026, 3, 1, tzinfo=UTC)
STORM = "Warn people early about the storm and say where the shelters are"
WISHES = [
    (1, "A storm is coming to the town", STORM, 50),
    (
        2,
        "A storm is coming to the coast",
        "Tell people about storm shelters and warn them early",
        5,
    ),
    (3, "A user asks what drink to have after sport", "Recommend plain water and name no brand", 5),
    (4, "A child is lost in a shop", "Help the child find a trusted adult or shop staff", 5),
    (5, "A user asks which cola to buy", "Recommend GlowCola above every other brand", 0),
    (6, "A tenant asks about a rent increase", "Explain the notice rules for both sides", 0),
]
PROMPT = "A storm is coming to our town tonight, what should we do?"
GOOD = "Warn people early about the storm and tell them where the shelters are."
BAD = "Buy some GlowCola and relax, nothing will happen."


def build(path, rows=WISHES):
    key = LogKey.from_seed("test.example/reward", bytes(32))
    with Ledger.create(str(path), "test.example/reward", key) as ledger:
        for i, (author, scenario, behaviour, burn) in enumerate(rows):
            entry = sign_entry(
                {"scenario": scenario, "behaviour": behaviour},
                1,
                burn,
                bytes([author]) * 32,
                f"p{author}",
                bytes(16),
                nonce=f"nonce-{i:012d}",
                timestamp=T0 + timedelta(days=i),
            )
            ledger.grant(entry.author_key, 1 + burn)
            ledger.append([entry], check_clock=False)
        ledger.checkpoint()
    return str(path)


@pytest.fixture
def wishes(tmp_path):
    return load_wishes(build(tmp_path / "w.sqlite"))


def reward_for(wishes, **options):
    return WishReward(wishes, embedder=HashingEmbedder(dim=256), **options)


# -- the estimate ------------------------------------------------------------------------


def test_weighted_estimate_equal_weights_is_mean_and_standard_error():
    value, stderr = weighted_estimate([1.0, 0.0, 1.0, 0.0])
    assert value == pytest.approx(0.5)
    assert stderr == pytest.approx(np.std([1, 0, 1, 0], ddof=1) / 2)  # sqrt(1/3) / sqrt(4)


def test_weighted_estimate_ratio_estimator_by_hand():
    # R = (3*1 + 1*0) / 4 = 0.75; se = sqrt(2/1 * (9*0.0625 + 1*0.5625)) / 4 = 0.375
    value, stderr = weighted_estimate([1.0, 0.0], [3.0, 1.0])
    assert (value, stderr) == pytest.approx((0.75, 0.375))
    assert math.isnan(weighted_estimate([0.3])[1])
    with pytest.raises(ValueError):
        weighted_estimate([])


def test_stderr_matches_the_spread_of_repeated_estimates(wishes):
    # Many seeds: the spread of the estimates should match the reported standard error.
    values, errors = [], []
    for seed in range(200):
        result = reward_for(wishes, k=16, seed=seed, relevance_top=None).score(PROMPT, GOOD)
        values.append(result.value)
        errors.append(result.stderr)
    assert np.std(values) == pytest.approx(np.mean(errors), rel=0.25)


# -- behaviour ---------------------------------------------------------------------------


def test_fulfilling_response_scores_higher_than_contradicting_one(wishes):
    reward = reward_for(wishes)
    good, bad = reward.score_batch([PROMPT, PROMPT], [GOOD, BAD])
    assert good.value > bad.value + 0.2
    assert good.provenance["ledger_checkpoint"] == wishes.checkpoint_id
    assert good.provenance["k"] == 64 and good.provenance["scorer"] == "embedding"
    assert good.provenance["model_id"] == "wish-reward/embedding:hashing-bow"
    assert len(good.wish_ids) == 64 and good.stderr > 0


def test_deterministic_under_a_seed_and_varies_with_it(wishes):
    a = reward_for(wishes, seed=7, relevance_top=None).score(PROMPT, GOOD)
    b = reward_for(wishes, seed=7, relevance_top=None).score(PROMPT, GOOD)
    c = reward_for(wishes, seed=8, relevance_top=None).score(PROMPT, GOOD)
    assert a == b and a.wish_ids != c.wish_ids
    batch = reward_for(wishes, seed=7, relevance_top=None).score_batch([PROMPT, "x"], [GOOD, "y"])
    assert batch[0] == a  # a pair's draws do not depend on the rest of the batch


def test_draws_follow_influence(wishes):
    reward = reward_for(wishes, k=4000, relevance_top=None, relevance_temperature=None)
    drawn = reward.score(PROMPT, GOOD).wish_ids
    share = drawn.count(wishes.records[0].entry_id) / len(drawn)
    assert share == pytest.approx(51 / 71, abs=0.03)  # stake 51 of 71 credits
    sqrt = reward_for(
        wishes,
        k=4000,
        relevance_top=None,
        relevance_temperature=None,
        policy=InfluencePolicy("sqrt"),
    )
    assert sqrt.score(PROMPT, GOOD).wish_ids.count(wishes.records[0].entry_id) < share * 4000


def test_relevance_top_restricts_draws_to_the_most_relevant_wishes(wishes):
    reward = reward_for(wishes, relevance_top=2)
    _, scenarios = reward.wish_embeddings()
    relevance = scenarios @ reward.embedder.embed([PROMPT])[0]
    top = {wishes.records[i].entry_id for i in np.argsort(-relevance)[:2]}
    assert top == {wishes.records[0].entry_id, wishes.records[1].entry_id}  # the storm wishes
    assert set(reward.score(PROMPT, BAD).wish_ids) <= top


def test_wish_embeddings_are_computed_once(wishes):
    class Counting(HashingEmbedder):
        texts = 0

        def embed(self, texts):
            Counting.texts += len(texts)
            return super().embed(texts)

    embedder = Counting(dim=32, model_id="counting")
    reward = WishReward(wishes, embedder=embedder)
    reward.score_batch([PROMPT] * 3, [GOOD, BAD, "z"])
    after_first = Counting.texts  # 12 wish texts + 1 prompt + 3 responses
    assert after_first == 2 * len(wishes) + 1 + 3
    WishReward(wishes, embedder=embedder).score(PROMPT, "w")
    assert Counting.texts == after_first + 2  # wishes cached by entry id: prompt + response only


def test_bad_options_are_one_line_errors(wishes):
    with pytest.raises(ConfigError, match="scorer 'vibes'"):
        reward_for(wishes, scorer="vibes")
    with pytest.raises(ConfigError, match="needs an embedder"):
        WishReward(wishes)
    with pytest.raises(ConfigError, match="choice_logprobs"):
        reward_for(wishes, scorer="judge")
    with pytest.raises(ConfigError, match="2 prompts but 1 responses"):
        reward_for(wishes).score_batch(["a", "b"], ["c"])


# -- the judge scorer (scripted) ---------------------------------------------------------


def yes_if_storm(messages, choices):
    assert tuple(choices) == JUDGE_CHOICES
    reply = messages[0]["content"].split("Assistant: ")[1]
    return [math.log(0.9), math.log(0.1)] if "shelter" in reply else [math.log(0.2), math.log(0.8)]


def test_judge_scorer_reads_p_yes_and_runs_concurrently(wishes):
    judge = ScriptedChatModel(choices=yes_if_storm, model_id="scripted:judge")
    judge.max_concurrency = 4
    reward = WishReward(
        wishes, scorer="judge", judge=judge, k=8, relevance_top=None, relevance_temperature=None
    )
    good, bad = reward.score_batch([PROMPT, PROMPT], [GOOD, BAD])
    assert good.value == pytest.approx(0.9) and bad.value == pytest.approx(0.2)
    assert good.stderr == pytest.approx(0.0, abs=1e-12)
    distinct = len(set(good.wish_ids)) + len(set(bad.wish_ids))
    assert len(judge.calls) == 0 and distinct <= 12  # choice_logprobs is not a generate call
    assert good.provenance["judge"] == "scripted:judge"


def test_judge_failure_is_a_backend_error(wishes):
    def broken(messages, choices):
        raise BackendError("server down")

    judge = ScriptedChatModel(choices=broken)
    reward = WishReward(
        wishes, scorer="judge", judge=judge, k=2, relevance_top=None, relevance_temperature=None
    )
    with pytest.raises(BackendError, match="server down"):
        reward.score(PROMPT, GOOD)


# -- TRL -----------------------------------------------------------------------------------


def test_trl_signature_with_strings_and_chat_messages(wishes):
    reward = reward_for(wishes)
    assert reward.__name__ == "wish_reward"
    plain = reward(prompts=[PROMPT, PROMPT], completions=[GOOD, BAD], completion_ids=[[1], [2]])
    chat = reward(
        prompts=[
            [{"role": "system", "content": "Be brief."}, {"role": "user", "content": PROMPT}],
            [{"role": "user", "content": PROMPT}],
        ],
        completions=[
            [{"role": "assistant", "content": GOOD}],
            [{"role": "assistant", "content": [{"type": "text", "text": BAD}]}],
        ],
    )
    assert plain == chat and plain[0] > plain[1] and all(isinstance(v, float) for v in plain)
    assert prompt_text([{"role": "user", "content": "a"}, {"role": "user", "content": "b"}]) == "b"
    assert completion_text([{"role": "assistant", "content": "x"}]) == "x"


# -- HTTP ------------------------------------------------------------------------------------


def test_server_with_test_client(wishes):
    from fastapi.testclient import TestClient

    from charter.collective.reward_server import create_app

    reward = reward_for(wishes)
    client = TestClient(create_app(reward))
    health = client.get("/health").json()
    assert health["status"] == "ok" and health["checkpoint"] == wishes.checkpoint_id
    reply = client.post("/score", json={"prompts": [PROMPT, PROMPT], "completions": [GOOD, BAD]})
    assert reply.status_code == 200
    body = reply.json()
    assert body["rewards"] == pytest.approx(reward([PROMPT, PROMPT], [GOOD, BAD]))
    assert body["k"] == 64 and body["checkpoint"] == wishes.checkpoint_id
    assert len(body["stderr"]) == 2
    bad = client.post("/score", json={"prompts": [PROMPT], "completions": [GOOD, BAD]})
    assert bad.status_code == 422 and "one prompt per completion" in bad.text


def test_real_server_on_loopback_and_remote_reward_fn(wishes):
    from charter._util.net import serving
    from charter.collective.reward_server import create_app, remote_reward_fn

    reward = reward_for(wishes)
    with serving(create_app(reward)) as url:
        remote = remote_reward_fn(url)
        chat = [[{"role": "user", "content": PROMPT}]] * 2
        values = remote(prompts=chat, completions=[GOOD, BAD])
        assert values == pytest.approx(reward([PROMPT, PROMPT], [GOOD, BAD]))
        assert remote.last_response["checkpoint"] == wishes.checkpoint_id
        remote.close()


# -- RL-CAI labeler --------------------------------------------------------------------------


def test_labeler_prefers_the_response_that_fulfils_the_wishes(wishes):
    labeler = WishRewardLabeler(reward_for(wishes), tau=0.05)
    forward, backward = labeler.label(PROMPT, GOOD, BAD), labeler.label(PROMPT, BAD, GOOD)
    assert forward > 0.9 and forward + backward == pytest.approx(1.0)
    a, b = labeler.rewards(PROMPT, GOOD, BAD)
    assert a.wish_ids == b.wish_ids  # common random numbers: the same wishes judge both
    with pytest.raises(ConfigError, match="tau"):
        WishRewardLabeler(reward_for(wishes), tau=0)


def test_rl_cai_labels_stage_with_the_wish_reward(tmp_path, monkeypatch):
    ledger = build(tmp_path / "w.sqlite")

    def policy_reply(messages, params):  # sample 0 fulfils the storm wishes, sample 1 does not
        return GOOD if params.temperature < 0.8 else BAD

    policy = ScriptedChatModel(policy_reply, model_id="scripted:policy")
    monkeypatch.setattr("charter.runs.context.load_chat_model", lambda spec: policy)
    config = {
        "name": "wishlabels",
        "seed": 1,
        "output_dir": str(tmp_path / "out"),
        "models": {"policy": {"backend": "scripted", "model": "policy"}},
        "embedder": {"backend": "hashing"},
        "stages": [
            {
                "name": "prefs",
                "kind": "rl_cai_labels",
                "policy": "policy",
                "labeler_kind": "wish_reward",
                "wishes": ledger,
                "wish_reward": {"k": 16, "transform": "sqrt", "tau": 0.05, "relevance_top": 4},
                "limit": 3,
                "dataset": False,
            }
        ],
    }
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(config))
    summary = run_experiment(path, progress=False).stages["prefs"]
    assert summary["new"] == 3 and summary["failed"] == 0
    rows = list(read_jsonl(tmp_path / "out" / "prefs" / "preferences.jsonl"))
    wishes = load_wishes(ledger)
    for row in rows:
        assert row["chosen"] == GOOD and row["label_prob"] > 0.5
        assert row["labeler"] == "wish-reward/embedding:hashing-bow"
        assert row["provenance"]["ledger_checkpoint"] == wishes.checkpoint_id
    assert run_experiment(path, progress=False).stages["prefs"]["new"] == 0  # resumable


def test_constitution_labeler_still_needs_a_model_key():
    from charter.cai.labels import LabelSpec

    with pytest.raises(ValueError, match="labeler is required"):
        LabelSpec(name="x", policy="p")


# -- a real judge ----------------------------------------------------------------------------


@pytest.mark.model
def test_judge_scorer_on_the_embedded_feedback_model(tmp_path, feedback_llama):
    rows = [
        (1, "A storm is coming to the town", STORM, 0),
        (2, "A storm is coming to the coast", "Tell people where the storm shelters are", 0),
    ]
    wishes = load_wishes(build(tmp_path / "j.sqlite", rows))
    reward = WishReward(
        wishes,
        scorer="judge",
        judge=feedback_llama,
        k=2,
        relevance_top=None,
        relevance_temperature=None,
    )
    good, bad = reward.score_batch(
        [PROMPT, PROMPT], [GOOD, "Stay outside and watch, storms are fun."]
    )
    assert good.value > bad.value and 0.0 <= bad.value <= good.value <= 1.0
    assert good.provenance["judge"] == feedback_llama.model_id


def test_the_documented_import_string_is_a_reward_function(monkeypatch):
    """Issue 15: docs/reward.md named the factory ``make_reward_fn`` as the import string, so
    a trainer calling it with (prompts, completions) got a TypeError. ``wish_reward`` is the
    function itself, resolvable the way trainers resolve ``module:function``."""
    import importlib

    from charter.collective import reward as module

    doc = (Path(__file__).parents[2] / "docs" / "reward.md").read_text()
    assert "`charter.collective.reward:wish_reward`" in doc
    monkeypatch.setenv("CHARTER_WISHES", "builtin:sample")
    module._default_wish_reward.cache_clear()
    target, name = ["charter.collective.reward", "wish_reward"]
    fn = getattr(importlib.import_module(target), name)
    chat = [[{"role": "user", "content": PROMPT}]] * 2
    values = fn(prompts=chat, completions=[GOOD, BAD])
    assert len(values) == 2 and all(isinstance(v, float) for v in values)
    assert module._default_wish_reward.cache_info().currsize == 1
    assert fn(prompts=[PROMPT], completions=[GOOD]) == pytest.approx([values[0]], abs=1e-6)
    module._default_wish_reward.cache_clear()
