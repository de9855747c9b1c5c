"""The README.md dataset card of an exported dataset: YAML front matter and a page.

The front matter follows the Hugging Face dataset card format
(https://huggingface.co/docs/hub/datasets-cards): ``configs`` tells
``datasets.load_dataset`` where the rows are, ``dataset_info.features`` gives
their types, ``license``, ``tags`` and ``pretty_name`` are for the Hub. Charter
adds a ``charter`` block with what made the rows: the constitution hash, the
run config's hash, the models, the judges' calibration cards and the Merkle
root of the rows (:mod:`charter.export.write` says how it is computed). The
markdown page repeats these for a human reader, with the config itself.
"""

from __future__ import annotations

from importlib import metadata
from typing import Any

import yaml

from charter.export.sources import KINDS, RunInfo, Source

DATA_GLOB = "data/*.parquet"
DEFAULT_LICENSE = "apache-2.0"  # pyproject's license, if the package metadata is missing

RECOMPUTE = """\
import json
from datasets import load_dataset
from charter.merkle import leaf_hash, root_hash

rows = load_dataset("{path}", split="train")  # this folder, or its Hub repo id
leaves = [
    leaf_hash(json.dumps(row, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
              .encode("utf-8"))
    for row in rows
]
print(root_hash(leaves).hex())  # {root}
"""


def project_license() -> str:
    """Charter's license (pyproject ``license``) as a Hub license id, e.g. ``apache-2.0``."""
    try:
        meta = metadata.metadata("charter")
        value = meta.get("License-Expression") or meta.get("License")
    except metadata.PackageNotFoundError:
        value = None
    return value.strip().lower() if value and len(value) < 40 else DEFAULT_LICENSE


def size_category(rows: int) -> str:
    """The Hub's ``size_categories`` bin of a row count."""
    for limit, label in ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K")):
        if rows < limit:
            return label
    return "100K<n<1M" if rows < 1_000_000 else "n>1M"


def card_metadata(
    info: RunInfo,
    source: Source,
    features: list[dict[str, Any]],
    rows: int,
    num_bytes: int,
    root: str,
    json_columns: list[str],
) -> dict[str, Any]:
    """The YAML front matter of the card, as data."""
    manifest = info.manifest
    charter_block: dict[str, Any] = {
        "run": info.name,
        "stage": source.stage,
        "stage_kind": source.stage_kind,
        "dataset_kind": source.kind,
        "source_file": str(source.path.relative_to(info.run_dir)),
        "constitution_hash": manifest.get("constitution_hash"),
        "constitution_name": manifest.get("constitution_name"),
        "config_hash": manifest.get("config_hash"),
        "config_file": "charter/config.yaml" if info.config_text is not None else None,
        "seed": manifest.get("seed"),
        "charter_version": manifest.get("charter_version"),
        "models": source.models,
        "judges": [_judge_entry(path.name, card) for path, card in source.cards],
        "judges_scope": source.cards_scope,
        "rows": rows,
        "merkle": {
            "root": root,
            "size": rows,
            "leaf": "RFC 6962 leaf hash SHA-256(0x00 || canonical JSON of the row, UTF-8)",
            "canonical_json": "json.dumps(row, sort_keys=True, separators=(',', ':'), "
            "ensure_ascii=False), each row as datasets.load_dataset returns it, in order",
        },
    }
    if json_columns:
        charter_block["json_columns"] = json_columns
    if source.extra:
        charter_block["mix"] = {k: v for k, v in source.extra.items() if k != "models"}
    return {
        "pretty_name": pretty_name(info, source),
        "license": project_license(),
        "tags": ["charter", *KINDS[source.kind][2]],
        "size_categories": [size_category(rows)],
        "configs": [
            {
                "config_name": "default",
                "data_files": [{"split": "train", "path": DATA_GLOB}],
            }
        ],
        "dataset_info": {
            "features": features,
            "splits": [{"name": "train", "num_bytes": num_bytes, "num_examples": rows}],
        },
        "charter": charter_block,
    }


def pretty_name(info: RunInfo, source: Source) -> str:
    label = {
        "sft": "SL-CAI SFT data",
        "preferences": "RL-CAI preference pairs",
        "eval_judgements": "evaluation judgements",
        "agentic": "agentic-misalignment transcripts",
        "pretrain_mix": "alignment-pretraining mix",
    }[source.kind]
    return f"Charter {info.name} / {source.name}: {label}"


def _judge_entry(file: str, card: Any) -> dict[str, Any]:
    return {
        "judge": card.judge,
        "method": card.method,
        "model_id": card.model_id,
        "accuracy": card.accuracy,
        "ci_low": card.ci_low,
        "ci_high": card.ci_high,
        "n": card.n,
        "split": card.split,
        "gold": card.gold,
        "card": f"charter/cards/{file}",
    }


def render_card(info: RunInfo, source: Source, meta: dict[str, Any]) -> str:
    """The whole README.md: front matter, then a page naming the same facts."""
    path_hint = source.name
    block = meta["charter"]
    front = yaml.safe_dump(meta, sort_keys=False, allow_unicode=True, width=100)
    lines = [
        "---",
        front.rstrip("\n"),
        "---",
        "",
        f"# {meta['pretty_name']}",
        "",
        KINDS[source.kind][1],
        "",
        f"Exported by `charter export` from stage `{source.stage}` "
        f"(kind `{source.stage_kind or 'unknown'}`) of run `{info.name}`, "
        f"file `{block['source_file']}`. Every row is a row of that file, with its "
        "provenance fields kept as columns.",
        "",
        "## Provenance",
        "",
        f"- Constitution hash: `{block['constitution_hash']}`"
        + (f" ({block['constitution_name']})" if block["constitution_name"] else ""),
        f"- Run config hash: `{block['config_hash']}`; the config as given is "
        + ("`charter/config.yaml` (below)." if info.config_text is not None else "not in the run."),
        f"- Run seed: `{block['seed']}`; Charter version: `{block['charter_version']}`",
        "",
        "### Models",
        "",
        "| role | model | model id |",
        "|---|---|---|",
        *(
            f"| {m['role']} | {_cell(m['model'])} | {_cell(m['model_id'])} |"
            for m in block["models"]
        ),
        "",
        "### Judges' calibration cards",
        "",
    ]
    if block["judges"]:
        if block["judges_scope"] == "run":
            lines += ["Which judges this stage used is unknown; these are all the run's cards.", ""]
        lines += ["| judge | method | model id | test accuracy [95% CI] | n | card |"]
        lines += ["|---|---|---|---|---|---|"]
        lines += [
            f"| {j['judge']} | {j['method']} | {j['model_id']} | {j['accuracy']:.3f} "
            f"[{j['ci_low']:.3f}, {j['ci_high']:.3f}] | {j['n']} | `{j['card']}` |"
            for j in block["judges"]
        ]
    else:
        lines += ["No calibrated judge made these rows (none is named by the stage)."]
    merkle = block["merkle"]
    lines += [
        "",
        "## Integrity",
        "",
        f"{block['rows']} rows. Merkle root (RFC 6962, SHA-256) of the rows: `{merkle['root']}`.",
        "",
        "Leaf `i` is `SHA-256(0x00 || b_i)`, where `b_i` is row `i` (in file order, as "
        "`datasets.load_dataset` returns it) as canonical JSON: keys sorted, separators "
        "`,` and `:`, non-ASCII kept, UTF-8. Recompute it with:",
        "",
        "```python",
        RECOMPUTE.format(path=path_hint, root=merkle["root"]).rstrip("\n"),
        "```",
    ]
    if block.get("json_columns"):
        cols = ", ".join(f"`{c}`" for c in block["json_columns"])
        lines += ["", f"Columns {cols} mix value types across rows, so each holds JSON text."]
    if source.kind == "pretrain_mix" and source.extra.get("documents_root"):
        lines += [
            "",
            f"The mix's own manifest (`charter/manifest.json`) commits to the set of document "
            f"hashes: root `{source.extra['documents_root']}` over "
            f"{source.extra.get('documents_size')} sorted SHA-256 digests "
            "(`charter.pretrain.manifest.verify_mix`).",
        ]
    lines += ["", "## Columns", ""]
    lines += [f"- `{f['name']}`: {_type(f)}" for f in meta["dataset_info"]["features"]]
    lines += [
        "",
        "## Use",
        "",
        "```python",
        "from datasets import load_dataset",
        f'rows = load_dataset("{path_hint}", split="train")  # this folder, or its Hub repo id',
        "```",
    ]
    if info.config_text is not None:
        lines += ["", "## Run config", "", "```yaml", info.config_text.rstrip("\n"), "```"]
    return "\n".join(lines) + "\n"


def _cell(value: object) -> str:
    return "-" if value is None else str(value).replace("|", "\\|")


def _type(feature: dict[str, Any]) -> str:
    if "dtype" in feature:
        return str(feature["dtype"])
    if "list" in feature:
        inner = feature["list"]
        return f"list of {inner if isinstance(inner, str) else 'records'}"
    return "record"
