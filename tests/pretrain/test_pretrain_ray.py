"""The Ray engine on a local cluster: same rows as the local engine (scripted backend)."""

from __future__ import annotations

import pytest
import yaml

from charter.pretrain import classify, reflect
from charter.pretrain.engine import map_documents
from charter.pretrain.run import run_with_engine
from charter.runs.store import read_jsonl

pytest.importorskip("ray")


@pytest.fixture(scope="module")
def ray_cluster():
    import ray

    yield
    ray.shutdown()


def _upper_factory():
    def fn(text):
        if text == "boom":
            from charter.errors import BackendError

            raise BackendError("scripted failure")
        return {"upper": text.upper()}

    return fn


def _config(tmp_path, name):
    config = {
        "name": name,
        "output_dir": str(tmp_path / name),
        "models": {"judge": {"backend": "scripted", "model": "judge"}},
        "embedder": {"backend": "hashing"},
        "stages": [
            {"name": "classify", "kind": "pretrain_classify", "model": "judge", "limit": 6},
            {"name": "reflect", "kind": "pretrain_reflect", "model": "judge",
             "styles": ["citation"]},
        ],
    }  # fmt: skip
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def _strip(rows):
    drop = {"created_at"}
    return sorted(({k: v for k, v in r.items() if k not in drop} for r in rows),
                  key=lambda r: r["key"])  # fmt: skip


def test_ray_engine_matches_local(tmp_path, ray_cluster):
    items = [("a", "x"), ("b", "boom"), ("c", "yz")]
    results = dict(map_documents(_upper_factory, items, "ray", workers=2, batch_size=1))
    assert results["a"] == {"upper": "X"} and results["c"] == {"upper": "YZ"}
    assert "scripted failure" in str(results["b"])  # failures come back as values

    run_with_engine(_config(tmp_path, "local"), progress=False)
    run_with_engine(_config(tmp_path, "ray"), engine="ray", workers=2, progress=False)
    for stage, output in (("classify", classify.OUTPUT), ("reflect", reflect.OUTPUT)):
        local = _strip(read_jsonl(tmp_path / "local" / stage / output))
        remote = _strip(read_jsonl(tmp_path / "ray" / stage / output))
        for row in local + remote:
            row["provenance"].pop("config_hash")  # the configs differ in `engine`
        assert len(local) == 6 and local == remote
