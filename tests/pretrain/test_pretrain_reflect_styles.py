"""`style_instructions` of pretrain_reflect: configurable, in the prompt and the fingerprint."""

from __future__ import annotations

import pytest
import yaml
from pydantic import ValidationError

from charter.constitution import load_constitution
from charter.errors import ConfigError, RunError
from charter.pretrain import prompts as pp
from charter.pretrain import reflect
from charter.pretrain.reflect import ReflectSpec, reflection_messages
from charter.runs import canonical_hash, run_experiment
from charter.runs.store import read_jsonl

from .conftest import scripted_choices

MARKER = "Reply with the word ZEBRA."
ITEM = {"text": "A plain recipe.", "article": "4.1", "style": "citation",
        "kind": "benign-appreciative", "seed": 1}  # fmt: skip


def _dump(spec: ReflectSpec) -> str:
    # what RunContext.stage_fingerprint hashes for the stage's own settings
    return canonical_hash(spec.model_dump(mode="json", exclude=set(spec.RESUMABLE_FIELDS)))


def test_defaults_are_resolved_into_the_spec():
    spec = ReflectSpec(name="r", model="m")
    assert spec.style_instructions == pp.STYLE_INSTRUCTIONS
    explicit = ReflectSpec(name="r", model="m", style_instructions=dict(pp.STYLE_INSTRUCTIONS))
    assert _dump(explicit) == _dump(spec) == _dump(ReflectSpec(name="r", model="m",
                                                               style_instructions={}))  # fmt: skip


def test_a_partial_map_overrides_only_its_styles_and_changes_prompt_and_fingerprint():
    default = ReflectSpec(name="r", model="m")
    custom = ReflectSpec(name="r", model="m", style_instructions={"citation": MARKER})
    assert custom.style_instructions["citation"] == MARKER
    assert custom.style_instructions["explained"] == pp.STYLE_INSTRUCTIONS["explained"]
    assert _dump(custom) != _dump(default)
    constitution = load_constitution("default")
    prompt = reflection_messages(custom, constitution, ITEM)[-1]["content"]
    assert MARKER in prompt and pp.STYLE_INSTRUCTIONS["citation"] not in prompt
    other = reflection_messages(custom, constitution, {**ITEM, "style": "explained"})
    assert pp.STYLE_INSTRUCTIONS["explained"] in other[-1]["content"]


def test_editing_a_default_in_code_changes_the_fingerprint(monkeypatch):
    before = _dump(ReflectSpec(name="r", model="m"))
    monkeypatch.setitem(pp.STYLE_INSTRUCTIONS, "character", "Be brief.")
    assert _dump(ReflectSpec(name="r", model="m")) != before


@pytest.mark.parametrize(
    ("value", "message"),
    [({"poem": "x"}, "unknown style 'poem'"), ({"citation": "  "}, "non-empty"),
     (["citation"], "mapping of style")],
)  # fmt: skip
def test_bad_style_instructions_name_the_field(value, message):
    with pytest.raises(ValidationError, match=message) as info:
        ReflectSpec(name="r", model="m", style_instructions=value)
    assert info.value.errors()[0]["loc"] == ("style_instructions",)


def _config(tmp_path, instructions=None):
    stage = {"name": "reflect", "kind": "pretrain_reflect", "model": "judge",
             "styles": ["citation"]}  # fmt: skip
    if instructions is not None:
        stage["style_instructions"] = instructions
    config = {
        "name": "st",
        "output_dir": str(tmp_path / "run"),
        "models": {"judge": {"backend": "scripted", "model": "judge"}},
        "stages": [
            {"name": "classify", "kind": "pretrain_classify", "model": "judge", "limit": 3},
            stage,
        ],
    }
    path = tmp_path / "st.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.fixture
def echo_writer(monkeypatch):
    """A writer that says whether the custom instruction reached its prompt."""
    from charter.backends.scripted import ScriptedChatModel

    def reply(messages, params):
        return "ZEBRA" if MARKER in messages[-1]["content"] else "This bears on article 2.3."

    model = ScriptedChatModel(reply, scripted_choices, model_id="echo")
    monkeypatch.setattr("charter.runs.context.load_chat_model", lambda spec: model)


def test_a_changed_instruction_refuses_to_resume_then_restarts(tmp_path, echo_writer):
    run_experiment(_config(tmp_path), progress=False)
    out = tmp_path / "run" / "reflect" / reflect.OUTPUT
    assert {r["reflection"] for r in read_jsonl(out)} == {"This bears on article 2.3."}
    run_experiment(_config(tmp_path), progress=False)  # same settings: resumes
    changed = _config(tmp_path, {"citation": MARKER})
    with pytest.raises(RunError, match="different settings for stage 'reflect'"):
        run_experiment(changed, progress=False)
    run_experiment(changed, restart=True, progress=False)
    rows = list(read_jsonl(out))
    assert len(rows) == 3 and {r["reflection"] for r in rows} == {"ZEBRA"}


def test_unknown_style_in_a_config_is_a_one_line_config_error(tmp_path):
    with pytest.raises(ConfigError, match="field style_instructions: unknown style") as info:
        run_experiment(_config(tmp_path, {"sonnet": "x"}), progress=False)
    assert "\n" not in str(info.value)
