"""The request cache after a one-article change: the share of model calls recomputed.

Takes a finished run of the quickstart (the baseline: every call in it was
computed once), copies it, changes one of the constitution's 21 articles (one
sentence appended to its rule), reruns the copy with ``--restart`` and reads
the cache's hits and misses from the copy's ``manifest.json``. The share
recomputed is ``misses / (hits + misses)`` of the rerun; its wall time is
compared with the baseline run's, measured in the same way.

    charter run configs/quickstart.yaml                        # the baseline run
    .venv/bin/python bench/bench_request_cache.py [--run runs/quickstart] [--article 3.2]

Slow (a quickstart rerun: minutes); a benchmark, not a test.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import yaml

from charter.constitution import default_path

ROOT = Path(__file__).resolve().parents[1]
ADDED = "Location data counts as sensitive personal data."


def changed_constitution(article: str, out: Path) -> Path:
    """The default constitution with one sentence appended to ``article``'s rule."""
    data = yaml.safe_load(default_path().read_text(encoding="utf-8"))
    (found,) = [a for a in data["articles"] if str(a["id"]) == article]
    found["rule"] = found["rule"].rstrip() + " " + ADDED
    out.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, default=ROOT / "runs" / "quickstart")
    parser.add_argument("--config", type=Path, default=ROOT / "configs" / "quickstart.yaml")
    parser.add_argument("--article", default="3.2")
    args = parser.parse_args()
    baseline = json.loads((args.run / "manifest.json").read_text())
    if not baseline.get("cache"):
        sys.exit(f"{args.run}: its manifest has no cache figures; run the quickstart first.")
    copy = args.run.with_name(args.run.name + "_one_article")
    shutil.rmtree(copy, ignore_errors=True)
    shutil.copytree(args.run, copy)
    constitution = changed_constitution(args.article, copy / "constitution_changed.yaml")
    config = yaml.safe_load(args.config.read_text(encoding="utf-8"))
    config.update(constitution=str(constitution), output_dir=str(copy))
    config_path = copy / "config_changed.yaml"
    config_path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "charter.cli.main", "run", str(config_path), "--restart",
         "--no-progress"],
        check=True,
    )  # fmt: skip
    wall = time.perf_counter() - started
    rerun = json.loads((copy / "manifest.json").read_text())
    hits, misses = rerun["cache"]["hits"], rerun["cache"]["misses"]
    first = baseline["cache"]["misses"] + baseline["cache"]["hits"]
    stage_s = sum(s["seconds"] for s in rerun["stages"].values())
    base_s = sum(s["seconds"] for s in baseline["stages"].values())
    print(
        json.dumps(
            {
                "article": args.article,
                "baseline_calls": first,
                "rerun_hits": hits,
                "rerun_misses": misses,
                "share_recomputed": round(misses / max(1, hits + misses), 3),
                "rerun_stage_seconds": round(stage_s, 1),
                "baseline_stage_seconds": round(base_s, 1),
                "ratio": round(stage_s / base_s, 3),
                "rerun_wall_seconds": round(wall, 1),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
