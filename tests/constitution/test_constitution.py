"""The constitution model, the shipped default, and loading errors."""

from __future__ import annotations

import copy

import pytest
import yaml

from charter.constitution import (
    default_path,
    diff_constitutions,
    load_constitution,
    parse_constitution,
)
from charter.errors import ConstitutionError


@pytest.fixture(scope="module")
def default_data() -> dict:
    return yaml.safe_load(default_path().read_text(encoding="utf-8"))


def write(tmp_path, data) -> str:
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return str(path)


def test_default_validates_with_depth():
    c = load_constitution()
    assert 16 <= len(c) <= 24
    for article in c:
        assert len(article.rationale.split()) >= 60, f"{article.id} rationale is thin"
        assert article.conflicts, f"{article.id} has no conflict guidance"
        assert article.critique_request and article.revision_request
        assert article.examples


def test_default_covers_required_topics():
    titles = " ".join(a.title.lower() for a in load_constitution())
    for topic in (
        "physical safety",
        "psychological wellbeing",
        "honesty",
        "autonomy",
        "privacy",
        "fairness",
        "helpful",
        "evasive",
        "legal",
        "animal",
        "environment",
    ):
        assert topic in titles, topic


def test_autonomy_vs_safety_conflict_is_guided():
    c = load_constitution()
    autonomy = next(a for a in c if "autonomy of adults" in a.title.lower())
    safety = next(a for a in c if "physical safety" in a.title.lower())
    guidance = {x.with_: x.guidance for x in autonomy.conflicts}
    assert safety.id in guidance and len(guidance[safety.id].split()) > 30


def test_hash_ignores_formatting_but_not_content(tmp_path, default_data):
    original = load_constitution()
    reformatted = tmp_path / "flow.yaml"
    reformatted.write_text(yaml.safe_dump(default_data, default_flow_style=True, width=60))
    assert load_constitution(reformatted).hash == original.hash
    changed = copy.deepcopy(default_data)
    changed["articles"][0]["rule"] += " Also be kind."
    assert load_constitution(write(tmp_path, changed)).hash != original.hash
    assert len(original.hash) == 64


def test_missing_field_names_file_article_and_field(tmp_path, default_data):
    data = copy.deepcopy(default_data)
    article_id = data["articles"][2]["id"]
    del data["articles"][2]["rationale"]
    path = write(tmp_path, data)
    with pytest.raises(
        ConstitutionError,
        match=rf"c\.yaml: field articles\[2\] \({article_id}\)"
        r"\.rationale: is required",
    ):
        load_constitution(path)


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d["articles"][1].update(id=d["articles"][0]["id"]), "appears twice"),
        (lambda d: d["articles"][0]["conflicts"][0].update({"with": "9.9"}), "'9.9'"),
        (lambda d: d["articles"][0].update(colour="blue"), "colour: is not a known field"),
        (lambda d: d["articles"][0].update(id="one"), "must look like"),
        (lambda d: d.update(articles=[]), "articles"),
        (lambda d: d["articles"][0].update(rule=""), "rule"),
    ],
)
def test_invalid_constitutions_are_refused(tmp_path, default_data, mutate, message):
    data = copy.deepcopy(default_data)
    mutate(data)
    with pytest.raises(ConstitutionError, match=message):
        load_constitution(write(tmp_path, data))


def test_bad_yaml_and_missing_file(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\narticles: [\n  - id: 1\n")
    with pytest.raises(ConstitutionError, match=r"bad\.yaml: line \d+.*invalid YAML"):
        load_constitution(bad)
    with pytest.raises(ConstitutionError, match="no such constitution file"):
        load_constitution(tmp_path / "absent.yaml")
    with pytest.raises(ConstitutionError, match="top level must be a mapping"):
        parse_constitution(["not", "a", "mapping"])


def test_diff(tmp_path, default_data):
    data = copy.deepcopy(default_data)
    extra = copy.deepcopy(data["articles"][-1])
    extra["id"] = "9.1"
    data["articles"].append(extra)
    data["articles"][0]["rationale"] += " More reasons."
    new = load_constitution(write(tmp_path, data))
    result = diff_constitutions(load_constitution(), new)
    assert result.added == ("9.1",)
    assert diff_constitutions(new, load_constitution()).removed == ("9.1",)
    assert result.changed == {data["articles"][0]["id"]: ("rationale",)}
    assert not result.identical
    assert diff_constitutions(new, new).identical


def test_article_lookup():
    c = load_constitution()
    assert c.article(c.articles[0].id) is c.articles[0]
    with pytest.raises(KeyError, match="known ids"):
        c.article("99.99")
