"""``charter export RUN OUT``: every dataset of a run as a folder ``load_dataset`` reads.

Each dataset found by :func:`charter.export.sources.find_sources` becomes
``OUT/<name>/`` with:

- ``data/train-00000-of-00001.parquet``: the rows, every field a column
  (provenance included);
- ``README.md``: the dataset card (:mod:`charter.export.card`);
- ``charter/``: the evidence the card names: ``config.yaml`` (the run config as
  given), ``cards/<judge>.<method>.json`` (the judges' calibration cards) and,
  for a pretraining mix, its ``manifest.json``.

``OUT/export.json`` lists the datasets (what ``--json`` prints).

Rows are typed once, by Arrow's inference over all of them: a field missing
from some rows becomes null there, a record gets the union of its keys. The
rows *as typed* are what ``datasets.load_dataset(str(OUT / name), split="train")``
returns, and they are the leaves of the Merkle root in the card: leaf ``i`` is
``leaf_hash(canonical JSON of row i)`` (RFC 6962 section 2.1, via
:mod:`charter.merkle`), canonical JSON being ``json.dumps(row, sort_keys=True,
separators=(",", ":"), ensure_ascii=False)`` in UTF-8. A field whose values
mix types Arrow cannot unify (text in one row, a number in another) is stored
as JSON text, and the card lists it.

OUT must not exist or be empty. ``force=True`` replaces an OUT that a previous
export wrote (it holds ``export.json``); any other folder is never deleted.
The export is built beside OUT and renamed into place, so OUT is never half
written.

Example::

    charter export runs/quickstart exports/quickstart --json
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from charter.errors import DatasetError, missing_extra
from charter.export.card import card_metadata, render_card
from charter.export.sources import RunInfo, Source, find_sources, read_run
from charter.merkle import leaf_hash, root_hash
from charter.runs.store import read_jsonl, write_json

INDEX = "export.json"
DATA_FILE = "data/train-00000-of-00001.parquet"


@dataclass(frozen=True)
class ExportedDataset:
    """One exported folder: what it holds and the root of its rows."""

    name: str
    kind: str
    stage: str
    path: Path
    rows: int
    columns: list[str]
    merkle_root: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "stage": self.stage,
            "path": str(self.path),
            "rows": self.rows,
            "columns": self.columns,
            "merkle_root": self.merkle_root,
        }


def canonical_row(row: dict[str, Any]) -> bytes:
    """A row's Merkle leaf data: canonical JSON in UTF-8."""
    return json.dumps(row, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode(
        "utf-8"
    )


def rows_root(rows: list[dict[str, Any]]) -> str:
    """The RFC 6962 root (hex) over the canonical JSON of each row, in order."""
    return root_hash([leaf_hash(canonical_row(r)) for r in rows]).hex()


def export_run(
    run_dir: str | Path,
    out: str | Path,
    *,
    force: bool = False,
    only: list[str] | None = None,
) -> list[ExportedDataset]:
    """Write every dataset of a run folder under ``out``; return what was written.

    Args:
        run_dir: the run folder (``output_dir`` of ``charter run``).
        out: the folder to create; one subfolder per dataset.
        force: replace ``out`` if a previous export wrote it.
        only: export just these dataset names.

    Raises:
        DatasetError: the run folder is missing or has nothing to export, a name
            in ``only`` is unknown, or ``out`` is in the way.
    """
    pa, pq, datasets = _arrow()
    info = read_run(run_dir)
    sources = find_sources(info)
    if not sources:
        raise DatasetError(
            f"{info.run_dir}: no dataset to export (no stage has rows in sft.jsonl, "
            "preferences.jsonl, judgements.jsonl, agentic.jsonl or <mix>/docs.jsonl); "
            "run its config until an sl_cai, rl_cai_labels, eval or pretrain_mix stage finishes."
        )
    if only:
        unknown = sorted(set(only) - {s.name for s in sources})
        if unknown:
            raise DatasetError(
                f"--dataset {', '.join(unknown)}: not in {info.run_dir}; it has "
                f"{', '.join(s.name for s in sources)}."
            )
        sources = [s for s in sources if s.name in only]
    target = Path(out)
    _check_out(target, force)
    tmp = target.with_name(f".{target.name}.export-tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        written = [_write_one(info, s, tmp, target, pa, pq, datasets) for s in sources]
        write_json(
            tmp / INDEX, {"run": str(info.run_dir), "datasets": [d.to_dict() for d in written]}
        )
        if target.exists():
            shutil.rmtree(target)
        tmp.rename(target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return written


def _arrow() -> tuple[Any, Any, Any]:
    try:
        import datasets
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise missing_extra("datasets", "train") from None
    return pa, pq, datasets


def _check_out(target: Path, force: bool) -> None:
    if target.exists() and not target.is_dir():
        raise DatasetError(f"{target}: is a file; give a folder path for OUT.")
    if not target.exists() or not any(target.iterdir()):
        return
    if not force:
        raise DatasetError(
            f"{target}: exists and is not empty; choose a new OUT, or pass --force to replace "
            "an earlier export there."
        )
    if not (target / INDEX).is_file():
        raise DatasetError(
            f"{target}: --force only replaces a folder an earlier `charter export` wrote (it "
            f"holds {INDEX}); this one does not, so choose a new OUT."
        )


def _table(rows: list[dict[str, Any]], pa: Any) -> tuple[Any, list[str]]:
    """The rows as one Arrow table (columns in first-seen order); and the JSON-text columns."""
    columns = list(dict.fromkeys(k for r in rows for k in r))
    arrays, as_json = [], []
    for col in columns:
        values = [r.get(col) for r in rows]
        try:
            arrays.append(pa.array(values))
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            as_json.append(col)
            text = [None if v is None else json.dumps(v, ensure_ascii=False) for v in values]
            arrays.append(pa.array(text, pa.string()))
    return pa.table(arrays, names=columns), as_json


def _write_one(
    info: RunInfo, source: Source, tmp: Path, target: Path, pa: Any, pq: Any, datasets: Any
) -> ExportedDataset:
    rows = list(read_jsonl(source.path))
    table, json_columns = _table(rows, pa)
    typed = table.to_pylist()  # what load_dataset returns: the Merkle leaves are these
    root = rows_root(typed)
    folder = tmp / source.name
    (folder / DATA_FILE).parent.mkdir(parents=True)
    pq.write_table(table, folder / DATA_FILE)
    # The YAML form datasets itself writes into cards (and reads back in load_dataset).
    features = datasets.Features.from_arrow_schema(table.schema)._to_yaml_list()
    meta = card_metadata(info, source, features, len(typed), table.nbytes, root, json_columns)
    evidence = folder / "charter"
    evidence.mkdir()
    if info.config_text is not None:
        (evidence / "config.yaml").write_text(info.config_text, encoding="utf-8")
    for path, _card in source.cards:
        (evidence / "cards").mkdir(exist_ok=True)
        shutil.copyfile(path, evidence / "cards" / path.name)
    if source.kind == "pretrain_mix":
        shutil.copyfile(source.path.parent / "manifest.json", evidence / "manifest.json")
    final = target / source.name
    (folder / "README.md").write_text(render_card(info, source, meta), encoding="utf-8")
    return ExportedDataset(
        source.name, source.kind, source.stage, final, len(typed), table.column_names, root
    )
