"""Train a LoRA adapter with TRL, resumably, and write a model Charter can load.

:func:`train` is the one entry point behind ``charter train`` and the
``train_*`` stages. An output folder holds::

    settings.json     what the checkpoints were made with (method, base, data hash, options)
    checkpoints/      checkpoint-N folders (adapter, optimizer, scheduler, RNG), every save_steps
    train_log.jsonl   one row per logging step: {"step", "loss", "learning_rate", ...}
    adapter/          the LoRA adapter (PEFT save_pretrained)
    model/            the merged model + tokenizer + chat template (save_pretrained):
                      a causal LM, or for ``reward`` a 1-output sequence classifier
    train.json        provenance, written last: its presence means "finished"

Rerunning the same command resumes from the last checkpoint; a finished
output is skipped unless ``max_steps`` grew (then training continues from the
last checkpoint) or ``restart`` is set. Other settings changes are refused:
checkpoints made with other data or options are not silently mixed.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import charter
from charter._util.progress import quiet_libraries
from charter.errors import ConfigError, RunError
from charter.runs.provenance import canonical_hash
from charter.train.data import TrainData, load_preferences, load_prompt_rows, load_sft
from charter.train.models import BaseModelRef, load_model, load_tokenizer, resolve_base
from charter.train.options import OPTIONS, GRPOOptions, TrainOptions

SETTINGS, TRAIN_JSON, LOG = "settings.json", "train.json", "train_log.jsonl"
CHECKPOINTS, ADAPTER, MODEL = "checkpoints", "adapter", "model"
_OUTPUTS = (SETTINGS, TRAIN_JSON, LOG, CHECKPOINTS, ADAPTER, MODEL, MODEL + ".tmp")


@dataclass(frozen=True)
class TrainResult:
    """What a call of :func:`train` did."""

    output: str
    method: str
    steps: int
    new_steps: int
    final_loss: float | None
    wall_seconds: float
    skipped: bool
    resumed_from: int | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def load_data(method: str, data: str | Path, options: TrainOptions) -> TrainData:
    """The rows ``method`` trains on (see :mod:`charter.train.data`)."""
    if method == "sft":
        return load_sft(data)
    if method in ("reward", "dpo"):
        return load_preferences(data, options.min_label_prob)  # type: ignore[attr-defined]
    limit = options.prompt_limit if isinstance(options, GRPOOptions) else None
    return load_prompt_rows(data, limit=limit)


def train(
    method: str,
    data: str | Path,
    output: str | Path,
    options: TrainOptions | None = None,
    base: str | Path = "embedded:policy",
    reward_model: str | Path | None = None,
    reward_fn: str | None = None,
    restart: bool = False,
    constitution_hash: str | None = None,
    progress: bool = True,
) -> TrainResult:
    """Train ``base`` with ``method`` on ``data`` into ``output`` (resumable).

    Args:
        method: ``sft``, ``reward``, ``dpo`` or ``grpo``.
        data: a JSONL file, a saved dataset folder or a stage folder (``grpo``:
            a prompt set such as ``builtin:redteam``).
        output: the output folder (layout in the module docstring).
        options: the method's options (defaults: :mod:`charter.train.options`).
        base: ``embedded:policy`` or a local transformers folder.
        reward_model: ``grpo``: a ``charter train reward`` output folder.
        reward_fn: ``grpo``: ``module:attr`` of a TRL reward function.
        restart: discard what ``output`` holds and train from the start.
        constitution_hash: recorded in ``train.json`` (default: from the rows' provenance).
        progress: show TRL's progress bar.

    Raises:
        ConfigError, DatasetError, BackendError: one line naming what to fix.
    """
    options = options or OPTIONS[method]()
    if options.method != method:
        raise ConfigError(f"options are for {options.method!r}, not {method!r}.")
    if method == "grpo" and (reward_model is None) == (reward_fn is None):
        raise ConfigError(
            "grpo needs exactly one reward: --reward-model DIR or --reward-fn mod:attr."
        )
    if method != "grpo" and (reward_model or reward_fn):
        raise ConfigError(f"{method} takes no reward; --reward-model/--reward-fn are for grpo.")
    import torch

    if options.threads:
        torch.set_num_threads(options.threads)
    out = Path(output)
    rows = load_data(method, data, options)
    ref = resolve_base(base)
    reward, reward_tok, reward_id = _reward(reward_model, reward_fn)
    settings = {
        "method": method,
        "base": ref.model_id,
        "base_sha256": ref.weights_sha256,
        "data_sha256": rows.sha256,
        "reward": reward_id,
        "options": options.fingerprint(),
    }
    if restart:
        for name in _OUTPUTS:
            _remove(out / name)
    out.mkdir(parents=True, exist_ok=True)
    _check_settings(out, settings)
    finished = _finished(out)
    if finished and finished.get("steps", 0) >= options.max_steps:
        return TrainResult(
            str(out), method, finished["steps"], 0, finished.get("final_loss"), 0.0, True, None
        )

    from transformers import TrainerCallback
    from transformers.trainer_utils import get_last_checkpoint

    checkpoints = out / CHECKPOINTS
    last = get_last_checkpoint(str(checkpoints)) if checkpoints.is_dir() else None
    resumed_from = int(last.rsplit("-", 1)[1]) if last else None
    _trim_log(out / LOG, resumed_from or 0)

    class _Record(TrainerCallback):
        """Append each log to train_log.jsonl; checkpoint the last step so it can be extended."""

        def on_log(self, args, state, control, logs=None, **kwargs):
            if state.is_world_process_zero and logs:
                row = {"step": state.global_step, **logs}
                with (out / LOG).open("a", encoding="utf-8") as handle:
                    handle.write(json.dumps(row) + "\n")

        def on_step_end(self, args, state, control, **kwargs):
            if state.global_step >= state.max_steps:
                control.should_save = True

    with quiet_libraries():
        tokenizer = load_tokenizer(ref.folder)
        model = load_model(ref.folder, "reward" if method == "reward" else "causal", tokenizer)
        from charter.train.methods import build_trainer

        trainer = build_trainer(
            options,
            model,
            tokenizer,
            rows,
            str(checkpoints),
            [_Record()],
            progress,
            reward,
            reward_tok,
        )
        from transformers import PrinterCallback

        # transformers prints each log dict on stdout: train_log.jsonl has them, stdout must
        # stay clean for `--json`, and the loss shows beside Charter's own bar instead.
        trainer.remove_callback(PrinterCallback)
        if progress:
            trainer.add_callback(_progress_callback(f"train {method}"))
        started = time.monotonic()
        trainer.train(resume_from_checkpoint=last)
        wall = time.monotonic() - started
        steps = trainer.state.global_step
        final_loss = _final_loss(out / LOG)
        if trainer.is_world_process_zero():
            _save(trainer, tokenizer, out)
            record = _provenance(method, data, rows, ref, options, settings, constitution_hash)
            record.update(
                steps=steps,
                resumed_from=resumed_from,
                wall_seconds=round(wall, 2),
                final_loss=final_loss,
                model_sha256=_model_sha(out / MODEL),
                finished_at=datetime.now(UTC).isoformat(),
            )
            _write_json(out / TRAIN_JSON, record)
    new = steps - (resumed_from or 0)
    return TrainResult(str(out), method, steps, new, final_loss, wall, False, resumed_from)


def _reward(reward_model, reward_fn) -> tuple[Any, Any, str | None]:
    if reward_fn:
        from charter.train.rewards import load_reward_fn

        return load_reward_fn(reward_fn), None, f"fn:{reward_fn}"
    if reward_model:
        from charter.train.models import weights_sha256
        from charter.train.rewards import load_reward_model

        model, tokenizer, folder = load_reward_model(reward_model)
        return model, tokenizer, f"model:{folder}@sha256:{(weights_sha256(folder) or '')[:16]}"
    return None, None, None


def _check_settings(out: Path, settings: dict[str, Any]) -> None:
    path = out / SETTINGS
    if path.exists():
        old = json.loads(path.read_text())
        if canonical_hash(old) != canonical_hash(settings):
            changed = sorted(k for k in settings if old.get(k) != settings[k])
            raise ConfigError(
                f"{out} was trained with different {', '.join(changed) or 'settings'}; rerun "
                "with --restart to train it again from the start, or choose another output."
            )
        return
    _write_json(path, settings)


def _finished(out: Path) -> dict[str, Any] | None:
    path = out / TRAIN_JSON
    if path.exists() and (out / MODEL / "config.json").is_file():
        return json.loads(path.read_text())
    return None


def _trim_log(path: Path, step: int) -> None:
    """Keep the log rows up to the checkpoint resumed from: later ones will be logged again."""
    if not path.exists():
        return
    kept = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            row = json.loads(line)
        except ValueError:
            break  # a torn last line from a kill
        if row.get("step", 0) <= step and "train_runtime" not in row:
            kept.append(line + "\n")
    path.write_text("".join(kept), encoding="utf-8")


def _final_loss(path: Path) -> float | None:
    if not path.exists():
        return None
    losses = [
        row["loss"]
        for line in path.read_text(encoding="utf-8").splitlines()
        if "loss" in (row := json.loads(line))
    ]
    return float(losses[-1]) if losses else None


def _save(trainer: Any, tokenizer: Any, out: Path) -> None:
    """Write adapter/ and the merged model/ (each swapped in whole)."""
    adapter_tmp = out / (ADAPTER + ".tmp")
    _remove(adapter_tmp)
    trainer.model.save_pretrained(adapter_tmp)
    tokenizer.save_pretrained(adapter_tmp)
    _remove(out / ADAPTER)
    adapter_tmp.rename(out / ADAPTER)

    merged = trainer.model.merge_and_unload()
    merged.to("cpu")
    merged.config.use_cache = True
    model_tmp = out / (MODEL + ".tmp")
    _remove(model_tmp)
    merged.save_pretrained(model_tmp)
    tokenizer.save_pretrained(model_tmp)
    _remove(out / MODEL)
    model_tmp.rename(out / MODEL)


def _provenance(method, data, rows: TrainData, ref: BaseModelRef, options, settings, hash_):
    import peft
    import torch
    import transformers
    import trl

    hashes = [hash_] if hash_ else list(rows.constitution_hashes)
    return {
        "method": method,
        "base_model": ref.model_id,
        "base_sha256": ref.weights_sha256,
        "dataset": {
            "path": str(data),
            "source": rows.source,
            "rows": len(rows.rows),
            "dropped": rows.dropped,
            "sha256": rows.sha256,
        },
        "reward": settings["reward"],
        "options": options.model_dump(mode="json"),
        "seed": options.seed,
        "constitution_hash": hashes[0] if len(hashes) == 1 else (hashes or None),
        "settings_hash": canonical_hash(settings),
        "versions": {
            "charter": charter.__version__,
            "trl": trl.__version__,
            "peft": peft.__version__,
            "transformers": transformers.__version__,
            "torch": torch.__version__,
            "python": platform.python_version(),
        },
        "device": "cuda" if torch.cuda.is_available() else "cpu",
    }


def _model_sha(folder: Path) -> str | None:
    from charter.train.models import weights_sha256

    return weights_sha256(folder)


def _remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path)
    elif path.exists():
        path.unlink()


def _write_json(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, path)


def ensure_finished(out: Path) -> Path:
    """The merged model folder of a finished output (RunError if training has not finished)."""
    if _finished(out) is None:
        raise RunError(f"{out}: training has not finished; run it (again) to complete it.")
    return out / MODEL


def _progress_callback(label: str) -> Any:
    """A TrainerCallback that drives one Charter progress bar: steps done, and the loss."""
    from contextlib import ExitStack

    from transformers import TrainerCallback

    from charter._util.progress import progress_bar

    class _ProgressBar(TrainerCallback):
        def __init__(self) -> None:
            self._stack = ExitStack()
            self._bar = None

        def on_train_begin(self, args, state, control, **kwargs):
            if state.is_world_process_zero:
                self._bar = self._stack.enter_context(progress_bar(label, state.max_steps))
                self._bar.update(completed=state.global_step)  # resumed from a checkpoint

        def on_step_end(self, args, state, control, **kwargs):
            if self._bar is not None:
                self._bar.update(completed=state.global_step)

        def on_log(self, args, state, control, logs=None, **kwargs):
            if self._bar is not None and logs and "loss" in logs:
                self._bar.update(description=f"{label} · loss {float(logs['loss']):.4f}")

        def on_train_end(self, args, state, control, **kwargs):
            self._stack.close()
            self._bar = None

    return _ProgressBar()
