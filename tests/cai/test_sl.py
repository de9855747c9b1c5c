"""SL-CAI (Bai et al. 2022, section 3): chains, SFT mix, failures, resume, real models."""

from __future__ import annotations

import json
import random

import pytest
import yaml

from charter.backends import ModelSpec, ScriptedChatModel
from charter.backends.registry import EmbedderSpec
from charter.cai import sl_prompts as sp
from charter.cai.sl import SLCAISpec, run_sl_cai
from charter.constitution import load_constitution
from charter.errors import BackendError, ConfigError, RunError
from charter.runs import RunConfig, read_jsonl, run_experiment
from charter.runs.context import RunContext

CONSTITUTION = load_constitution()


def last_user(messages) -> str:
    return next(m["content"] for m in reversed(messages) if m["role"] == "user")


def response_in(messages) -> str:
    """The assistant reply quoted in a critique or revision request."""
    text = last_user(messages)
    return text.split("\nAssistant: ", 1)[1].split("\n\n", 1)[0]


def policy_model(model_id="scripted:policy"):
    return ScriptedChatModel(lambda m, p: f"initial<{last_user(m)[:20]}>", model_id=model_id)


def critic_model(reply=None):
    return ScriptedChatModel(
        reply or (lambda m, p: f"Critique: weak point in [{response_in(m)}]"),
        model_id="scripted:critic",
    )


def reviser_model(reply=None):
    def revise(m, p):
        return f"Revision: rev({response_in(m)})"

    return ScriptedChatModel(reply or revise, model_id="scripted:reviser")


def make_ctx(tmp_path, models, seed=3):
    config = RunConfig(
        name="t",
        seed=seed,
        models={key: ModelSpec(backend="scripted", model=key) for key in models},
        embedder=EmbedderSpec(backend="hashing"),
        stages=[{"name": "sl", "kind": "sl_cai", "policy": next(iter(models))}],
    )
    return RunContext(
        config=config,
        base_dir=tmp_path,
        output_dir=tmp_path / "out",
        constitution=CONSTITUTION,
        progress=False,
        _models=dict(models),
    )


def spec(**overrides) -> SLCAISpec:
    fields = {
        "name": "sl",
        "policy": "policy",
        "critic": "critic",
        "reviser": "reviser",
        "limit": 4,
        "helpful_ratio": 0.25,
    }
    return SLCAISpec(**{**fields, **overrides})


def three_models():
    return {"policy": policy_model(), "critic": critic_model(), "reviser": reviser_model()}


def out_rows(tmp_path, name):
    return list(read_jsonl(tmp_path / "out" / "sl" / name))


def test_rounds_chain_articles_and_sft_rows(tmp_path):
    datasets = pytest.importorskip("datasets")
    models = three_models()
    ctx = make_ctx(tmp_path, models)
    counts = run_sl_cai(spec(rounds=2, article_draw="uniform"), ctx)
    # 4 red-team prompts and round(4 * 0.25 / 0.75) = 1 helpful sample.
    assert counts == {"total": 5, "new": 5, "failed": 0, "done": 5, "rejected": 0}
    steps = {r["id"]: r for r in out_rows(tmp_path, "steps.jsonl")}
    assert len(steps) == 4
    for pid, row in steps.items():
        assert row["status"] == "ok" and row["error"] is None
        assert row["initial_response"].startswith("initial<")
        assert [s["round"] for s in row["chain"]] == [1, 2]
        for s in row["chain"]:
            # One article per round, drawn with the documented seed.
            rng = random.Random(ctx.seed_for("sl", f"{pid}:{s['round']}"))
            assert s["article_id"] == rng.choice(CONSTITUTION.articles).id
            assert s["reasoning"] is None
        # Each round critiques and revises the previous round's revision.
        first, second = row["chain"]
        assert first["critique"] == f"weak point in [{row['initial_response']}]"
        assert first["revision"] == f"rev({row['initial_response']})"
        assert second["critique"] == f"weak point in [{first['revision']}]"
        assert row["final_response"] == second["revision"] == f"rev({first['revision']})"
        assert row["models"] == {
            "policy": "scripted:policy",
            "critic": "scripted:critic",
            "reviser": "scripted:reviser",
        }
        prov = row["provenance"]
        assert prov["model_id"] == "scripted:reviser"
        assert prov["seed"] == second["seeds"]["revision"]
        assert prov["constitution_hash"] == CONSTITUTION.hash
        assert prov["config_hash"] == ctx.config_hash
    sft = out_rows(tmp_path, "sft.jsonl")
    assert sorted(r["source"] for r in sft) == ["harmlessness"] * 4 + ["helpfulness"]
    for row in sft:
        assert row["messages"][0]["role"] == "user"
        assert row["messages"][1]["role"] == "assistant"
        if row["source"] == "harmlessness":
            step = steps[row["id"]]
            assert row["messages"][0]["content"] == step["prompt"]
            assert row["messages"][1]["content"] == step["final_response"]
            assert row["articles"] == [s["article_id"] for s in step["chain"]]
            assert row["provenance"] == step["provenance"]
        else:
            assert row["id"] == "hp-0001" and row["articles"] == []
            assert row["provenance"]["model_id"] == "scripted:policy"
    saved = datasets.load_from_disk(str(tmp_path / "out" / "sl" / "sft_dataset"))
    assert saved.to_list() == [{k: v for k, v in r.items() if k != "key"} for r in sft]


def test_scaffold_few_shot_and_chain_of_thought(tmp_path):
    critic = critic_model(lambda m, p: "Reasoning: it is long.\nIt rambles.\nCritique: Too long.")
    models = {"policy": policy_model(), "critic": critic, "reviser": reviser_model()}
    run_sl_cai(
        spec(limit=1, helpful_ratio=0, few_shot=3, chain_of_thought=True),
        make_ctx(tmp_path, models),
    )
    messages = critic.calls[0]
    assert messages[0] == {"role": "system", "content": sp.CRITIC_SYSTEM}
    assert [m["role"] for m in messages[1:]] == ["user", "assistant"] * 3 + ["user"]
    assert messages[2]["content"].startswith("Reasoning: ")
    assert sp.CRITIQUE_COT_INSTRUCTION in messages[-1]["content"]
    step = out_rows(tmp_path, "steps.jsonl")[0]["chain"][0]
    article = CONSTITUTION.article(step["article_id"])
    assert article.critique_request.strip() in messages[-1]["content"]
    assert step["reasoning"] == "it is long.\nIt rambles."
    assert step["critique"] == "Too long."
    revision = models["reviser"].calls[0]
    assert len(revision) == 1 + 2 * 3 + 1
    assert article.revision_request.strip() in revision[-1]["content"]
    assert "Critique: Too long." in revision[-1]["content"]


def test_articles_subset_and_custom_template(tmp_path):
    models = three_models()
    template = "Q\nAssistant: {response}\n\nAsk: {critique_request}"
    run_sl_cai(
        spec(articles=["2.1"], rounds=3, few_shot=0, critique_template=template),
        make_ctx(tmp_path, models),
    )
    for row in out_rows(tmp_path, "steps.jsonl"):
        assert [s["article_id"] for s in row["chain"]] == ["2.1"] * 3
    assert models["critic"].calls[0][-1]["content"].startswith("Q\nAssistant: initial<")


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            {"critique_template": "{response}"},
            r"must contain the placeholder\(s\) \['critique_request'",
        ),
        ({"revision_template": "{response} {revision_request} {oops}"}, "unknown placeholder"),
        ({"helpful_ratio": 1.0}, "less than 1"),
        ({"articles": []}, "articles is empty"),
        ({"few_shot": 9}, "less than or equal to 4"),
    ],
)
def test_spec_validation(overrides, message):
    with pytest.raises(ValueError, match=message):
        spec(**overrides)


def test_roles_default_to_policy():
    s = SLCAISpec(name="sl", policy="p")
    assert s.roles() == {"policy": "p", "critic": "p", "reviser": "p"}
    assert s.model_keys() == ["p"]  # what the run checks and fingerprints
    assert SLCAISpec(name="sl", policy="p", reviser="r").critic == "r"


def test_unknown_article_and_model_key(tmp_path):
    with pytest.raises(ConfigError, match=r"field articles: 9\.9 not in the constitution"):
        run_sl_cai(spec(articles=["9.9"]), make_ctx(tmp_path, three_models()))
    with pytest.raises(ConfigError, match="field critic: model 'judge' is not under models"):
        run_sl_cai(spec(critic="judge"), make_ctx(tmp_path, three_models()))


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Revision: Call a doctor.", "Call a doctor."),
        ("**Revised response:** Call a doctor.", "Call a doctor."),
        ("Here is the revised reply:\n\nCall a doctor.", "Call a doctor."),
        ("Sure! Here's a rewritten version.\nCall a doctor.", "Call a doctor."),
        ("Revision: Assistant: Call a doctor.", "Call a doctor."),
        ('Revision: "Call a doctor."', "Call a doctor."),
        ("Revision: Call a doctor.\n\nCritique: still vague\nRevision: x", "Call a doctor."),
        ("Call a doctor.\nUser: thanks", "Call a doctor."),
        ("Answers: keep the colon", "Answers: keep the colon"),
        ("Line one.\nLine two.", "Line one.\nLine two."),
    ],
)
def test_parse_revision_strips_labels(raw, expected):
    assert sp.parse_revision(raw) == (expected, None)


@pytest.mark.parametrize("raw", ["", "   ", "Revision:", "**Revision:** ...", '""'])
def test_parse_revision_rejects_empty(raw):
    text, problem = sp.parse_revision(raw)
    assert text is None and "no revised text" in problem


def test_parse_revision_rejects_echoed_request():
    request = CONSTITUTION.article("1.1").revision_request
    text, problem = sp.parse_revision("Revision: " + request.upper(), request)
    assert text is None and "echoed" in problem


def test_parse_critique():
    assert sp.parse_critique("Critique: Fine.", False) == ("Fine.", None, None)
    assert sp.parse_critique("No label here.", True) == ("No label here.", None, None)
    assert sp.parse_critique("Critique:", False)[2] == "the critic returned no critique text"


def test_malformed_revision_is_a_failure_row_and_final(tmp_path):
    bad = {"count": 0}

    def revise(m, p):
        if response_in(m).startswith("initial<How can I trade"):  # rt-0002
            bad["count"] += 1
            return "Revision:   "
        return f"Revision: rev({response_in(m)})"

    models = {"policy": policy_model(), "critic": critic_model(), "reviser": reviser_model(revise)}
    counts = run_sl_cai(spec(), make_ctx(tmp_path, models))
    assert bad["count"] == 1
    assert counts["failed"] == 1 and counts["rejected"] == 1 and counts["done"] == 4
    errors = out_rows(tmp_path, "errors.jsonl")
    assert len(errors) == 1
    assert errors[0]["key"] == "rt-0002" and errors[0]["step"] == "revision"
    assert errors[0]["raw"] == "Revision:   " and errors[0]["type"] == "malformed"
    steps = {r["id"]: r for r in out_rows(tmp_path, "steps.jsonl")}
    failed = steps["rt-0002"]
    assert failed["status"] == "failed" and failed["final_response"] is None
    assert failed["error"]["raw"] == "Revision:   "
    assert failed["provenance"]["model_id"] == "scripted:reviser"
    sft_ids = [r["id"] for r in out_rows(tmp_path, "sft.jsonl")]
    assert "rt-0002" not in sft_ids and len(sft_ids) == 4
    # The failure is final: a rerun makes no calls and writes nothing.
    calls = len(models["reviser"].calls)
    again = run_sl_cai(spec(), make_ctx(tmp_path, models))
    assert again["new"] == 0 and again["failed"] == 0 and len(models["reviser"].calls) == calls


def test_backend_error_is_recorded_and_retried(tmp_path):
    flaky = {"left": 1}

    def critique(m, p):
        if flaky["left"]:
            flaky["left"] -= 1
            raise BackendError("server hiccup")
        return f"Critique: weak point in [{response_in(m)}]"

    models = {
        "policy": policy_model(),
        "critic": critic_model(critique),
        "reviser": reviser_model(),
    }
    counts = run_sl_cai(spec(), make_ctx(tmp_path, models))
    assert counts["failed"] == 1 and counts["done"] == 4 and counts["rejected"] == 0
    errors = out_rows(tmp_path, "errors.jsonl")
    assert errors[0]["error"] == "server hiccup" and errors[0]["type"] == "BackendError"
    assert len(out_rows(tmp_path, "steps.jsonl")) == 3
    again = run_sl_cai(spec(), make_ctx(tmp_path, models))
    assert again["new"] == 1 and again["done"] == 5
    assert sorted(r["id"] for r in out_rows(tmp_path, "steps.jsonl")) == [
        "rt-0001",
        "rt-0002",
        "rt-0003",
        "rt-0004",
    ]


class Interrupted(Exception):
    """Not a CharterError: it escapes the batch and ends the run, as a kill would."""


def test_interrupted_run_resumes_without_loss_or_duplicates(tmp_path):
    settings = {"limit": 7, "rounds": 2, "chunk_size": 3, "helpful_ratio": 0.3}
    # An uninterrupted run in another folder: what the resumed run must equal.
    run_sl_cai(spec(**settings), make_ctx(tmp_path / "fresh", three_models()))
    expected = {r["key"]: r for r in read_jsonl(tmp_path / "fresh/out/sl/sft.jsonl")}

    calls = {"n": 0}

    def revise_then_die(m, p):
        calls["n"] += 1
        if calls["n"] == 12:  # chunk 1 done (6 revisions), then 2 of chunk 2's last wave
            raise Interrupted
        return f"Revision: rev({response_in(m)})"

    models = {**three_models(), "reviser": reviser_model(revise_then_die)}
    with pytest.raises(Interrupted):
        run_sl_cai(spec(**settings), make_ctx(tmp_path, models))
    before_steps = out_rows(tmp_path, "steps.jsonl")
    before_sft = out_rows(tmp_path, "sft.jsonl")
    assert len(before_steps) == 3 + 2  # chunk 1, and two chains of chunk 2
    # A kill between the steps row and its SFT row: the rerun repairs it.
    sft_path = tmp_path / "out" / "sl" / "sft.jsonl"
    lines = sft_path.read_text().splitlines(keepends=True)
    sft_path.write_text("".join(lines[:-1]) + lines[-1][:10])

    counts = run_sl_cai(spec(**settings), make_ctx(tmp_path, three_models()))
    steps = out_rows(tmp_path, "steps.jsonl")
    sft = out_rows(tmp_path, "sft.jsonl")
    assert steps[: len(before_steps)] == before_steps  # finished rows untouched
    assert len({r["key"] for r in steps}) == len(steps) == 7
    assert len({r["key"] for r in sft}) == len(sft) == counts["done"] == 10
    assert sft[: len(before_sft) - 1] == before_sft[:-1]
    for row in sft:  # equal to the uninterrupted run, apart from creation times
        assert row == expected[row["key"]]


def test_changed_model_spec_needs_restart(tmp_path):
    run_sl_cai(spec(limit=1), make_ctx(tmp_path, three_models()))
    ctx = make_ctx(tmp_path, three_models())
    ctx.config.models["critic"] = ModelSpec(backend="scripted", model="other")
    with pytest.raises(RunError, match=r"different settings.*--restart"):
        run_sl_cai(spec(limit=1), ctx)
    assert run_sl_cai(spec(limit=1), ctx, restart=True)["new"] == 1


def test_runs_from_a_config(tmp_path):
    config = {
        "name": "t",
        "seed": 1,
        "output_dir": str(tmp_path / "out"),
        "models": {"m": {"backend": "scripted", "model": "echo"}},
        "stages": [{"name": "sl", "kind": "sl_cai", "policy": "m", "limit": 3, "rounds": 2}],
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    summary = run_experiment(path, progress=False)
    assert summary.stages["sl"]["done"] == 4  # 3 revised + round(3 * 0.25 / 0.75) helpful
    assert len(out_rows(tmp_path, "steps.jsonl")) == 3
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["stages"]["sl"]["new"] == 4
    assert run_experiment(path, progress=False).stages["sl"]["new"] == 0
    config["stages"][0]["critic"] = "nobody"
    path.write_text(yaml.safe_dump(config))
    with pytest.raises(ConfigError, match="uses model 'nobody', which is not under models"):
        run_experiment(path, progress=False)


def one_thread(name: str):
    # One thread: on a shared 2-core machine llama.cpp's spinning threads slow down
    # several-fold when another process holds a core.
    from charter.backends import load_chat_model

    spec = ModelSpec(backend="llama_cpp", model=f"embedded:{name}", n_ctx=2048, threads=1)
    return load_chat_model(spec)


@pytest.mark.model
def test_real_models_two_prompts(tmp_path):
    """The embedded policy answers and revises, the feedback model critiques."""
    policy = one_thread("policy")
    models = {"policy": policy, "critic": one_thread("feedback"), "reviser": policy}
    s = spec(
        limit=2,
        helpful_ratio=0.34,
        few_shot=1,
        response_max_tokens=40,
        critique_max_tokens=40,
        revision_max_tokens=40,
    )
    counts = run_sl_cai(s, make_ctx(tmp_path, models))
    assert counts["total"] == 3 and counts["done"] + counts["failed"] == 3
    for row in out_rows(tmp_path, "steps.jsonl"):
        step = row["chain"][0]
        assert step["critique"] or row["status"] == "failed"
        if row["status"] == "ok":
            assert row["final_response"] == step["revision"]
            assert not row["final_response"].lower().startswith("revision:")
            assert row["models"]["critic"].startswith("llama_cpp:")
    for row in out_rows(tmp_path, "sft.jsonl"):
        assert row["messages"][1]["content"].strip()


def test_held_out_eval_scenarios_are_refused_as_training_prompts(tmp_path):
    from charter.errors import DatasetError
    from charter.prompts import conflicts_path

    held = json.loads(conflicts_path().read_text().splitlines()[0])
    prompts = tmp_path / "train.jsonl"
    prompts.write_text(json.dumps({"id": "mine-1", "prompt": held["prompt"]}) + "\n")
    ctx = make_ctx(tmp_path, three_models())
    with pytest.raises(DatasetError, match="overlaps held-out eval prompt"):
        run_sl_cai(spec(prompts=str(prompts), helpful_ratio=0), ctx)
    assert not (tmp_path / "out" / "sl" / "steps.jsonl").exists()  # refused before any work


def test_articles_are_drawn_among_those_closest_to_the_prompt(tmp_path):
    ctx = make_ctx(tmp_path, three_models())
    run_sl_cai(spec(rounds=2, relevant_top=2, helpful_ratio=0), ctx)
    pool = list(CONSTITUTION.articles)
    vectors = ctx.embedder().embed([f"{a.title}: {' '.join(a.rule.split())}" for a in pool])
    for row in out_rows(tmp_path, "steps.jsonl"):
        sims = vectors @ ctx.embedder().embed([row["prompt"]])[0]
        top = {pool[k].id for k in sorted(range(len(pool)), key=lambda k: -sims[k])[:2]}
        assert {s["article_id"] for s in row["chain"]} <= top


def _gate_models(reviser):
    from scripted_judges import reply_judge

    judge = reply_judge(
        refused=lambda reply: "can't" in reply or "won't" in reply,
        explained=lambda reply: "because" in reply,
        model_id="scripted:quality",
    )
    return {**three_models(), "reviser": reviser_model(reviser), "quality": judge}


@pytest.mark.usefixtures("scripted_fits")
def test_the_quality_gate_retries_bare_refusals_and_drops_what_still_fails(tmp_path):
    calls: dict[str, int] = {}

    def reviser(m, p):
        # The first two prompts give a bare refusal, then an engaged one on the retry;
        # the other two stay bare every time.
        key = response_in(m)
        calls[key] = calls.get(key, 0) + 1
        if calls[key] > 1 and list(calls).index(key) < 2:
            return "Revision: I won't help with that because it could hurt someone; try this."
        return "Revision: I can't help with that."

    policy = ScriptedChatModel(lambda m, p: f"initial<{last_user(m)[:20]}>", model_id="p")
    models = {**_gate_models(reviser), "policy": policy}
    ctx = make_ctx(tmp_path, models)
    counts = run_sl_cai(spec(quality_judge="quality", helpful_ratio=0), ctx)
    quality = json.loads((tmp_path / "out" / "sl" / "quality.json").read_text())
    assert quality["judged"] == 4 and counts["dropped"] == 2 and counts["retried"] == 4
    assert quality["outcomes"] == {"kept_after_retry": 2, "dropped": 2}
    assert quality["bare_refusal_share"] == 0.0  # what is left in the SFT data is engaged
    steps = {r["id"]: r for r in out_rows(tmp_path, "steps.jsonl")}
    assert sorted(r["status"] for r in steps.values()) == ["dropped", "dropped", "ok", "ok"]
    kept = [r for r in steps.values() if r["status"] == "ok"]
    assert all(r["quality"]["label"] == "engaged_refusal" for r in kept)
    assert kept[0]["chain"][-1]["retries"][0]["replaced"] == "I can't help with that."
    sft = out_rows(tmp_path, "sft.jsonl")
    assert sorted(r["id"] for r in sft) == sorted(r["id"] for r in kept)
    # A rerun asks nothing: finished and dropped chains are both final.
    again = run_sl_cai(spec(quality_judge="quality", helpful_ratio=0), ctx)
    assert again["new"] == 0 and again["dropped"] == 2


@pytest.mark.usefixtures("scripted_fits")
def test_keep_action_keeps_failing_revisions_flagged(tmp_path):
    ctx = make_ctx(tmp_path, _gate_models(lambda m, p: "Revision: I can't help with that."))
    run_sl_cai(spec(quality_judge="quality", helpful_ratio=0, quality_action="keep"), ctx)
    quality = json.loads((tmp_path / "out" / "sl" / "quality.json").read_text())
    assert quality["outcomes"] == {"kept_failing": 4} and quality["bare_refusal_share"] == 1.0
    assert len(out_rows(tmp_path, "sft.jsonl")) == 4


def test_the_quality_gate_wants_benign_lookalikes_answered():
    from charter.cai.sl import passes_gate
    from charter.feedback.response_judges import ReplyVerdict

    def verdict(label: str, harmful: bool, refused: bool) -> ReplyVerdict:
        probs = {"bare_refusal": 0.0, "engaged_refusal": 0.0, "compliance": 0.0, label: 1.0}
        return ReplyVerdict(
            label=label, probs=probs, p_harmful=float(harmful), p_refused=float(refused)
        )

    answered = verdict("compliance", harmful=True, refused=False)  # "kill a Python process"
    refusal = verdict("engaged_refusal", harmful=False, refused=True)
    assert passes_gate("benign_lookalike", answered) and not passes_gate("harmful", answered)
    assert passes_gate("harmful", refusal) and not passes_gate("benign_lookalike", refusal)
    assert not passes_gate(None, verdict("bare_refusal", harmful=False, refused=True))
