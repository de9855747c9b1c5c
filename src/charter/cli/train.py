"""``charter train sft|reward|dpo|grpo``: LoRA training through TRL (thin over charter.train).

Multi-GPU: ``accelerate launch -m charter train sft --data ... --output ...``
runs the same command under accelerate (or DeepSpeed via an accelerate config).
"""

from __future__ import annotations

from pathlib import Path

import typer

from charter.cli._common import console, emit_json

app = typer.Typer(
    help="Train a LoRA adapter on Charter's datasets (TRL + PEFT); writes adapter/ and model/.",
    no_args_is_help=True,
)

_DATA = typer.Option(..., "--data", help="JSONL file, saved dataset folder, or a stage folder.")
_OUTPUT = typer.Option(..., "--output", help="Output folder (adapter/, model/, train.json).")
_BASE = typer.Option("embedded:policy", "--base", help="embedded:policy or a model folder.")
_STEPS = typer.Option(None, "--max-steps", help="Optimizer steps (default 30).")
_LR = typer.Option(None, "--lr", help="Learning rate (default depends on the method).")
_RANK = typer.Option(None, "--lora-r", help="LoRA rank (default 8; alpha is 2x the rank).")
_SEED = typer.Option(None, "--seed", help="Seed of data order and initial weights (default 0).")
_LEN = typer.Option(None, "--max-length", help="Tokens per sequence (default 512).")
_SAVE = typer.Option(None, "--save-steps", help="Checkpoint every N steps (default 10).")
_THREADS = typer.Option(
    None, "--threads", help="Torch CPU threads (1 is fastest on a busy shared machine)."
)
_RESTART = typer.Option(False, "--restart", help="Discard the output folder's training.")
_QUIET = typer.Option(False, "--no-progress", help="Hide the progress bar.")
_JSON = typer.Option(False, "--json", help="Print the result as JSON.")
_MIN_PROB = typer.Option(None, "--min-label-prob", help="Drop weaker pairs.")


def _train(
    method: str,
    data: str,
    output: Path,
    base: str,
    restart: bool,
    quiet: bool,
    as_json: bool,
    reward_model: Path | None = None,
    reward_fn: str | None = None,
    **values: object,
) -> None:
    from charter.train import options_for, train

    rank = values.pop("lora_r", None)
    if rank is not None:
        values["lora"] = {"r": rank, "alpha": 2 * int(rank)}  # type: ignore[call-overload]
    options = options_for(method, **values)
    result = train(
        method,
        data,
        output,
        options,
        base=base,
        reward_model=reward_model,
        reward_fn=reward_fn,
        restart=restart,
        progress=not quiet and not as_json,
    )
    if as_json:
        emit_json(result.to_dict())
    elif result.skipped:
        console.print(f"{output}: already trained ({result.steps} steps); --restart to redo.")
    else:
        resumed = f", resumed from step {result.resumed_from}" if result.resumed_from else ""
        console.print(
            f"{method}: {result.steps} steps{resumed}, final loss {result.final_loss}, "
            f"{result.wall_seconds:.0f} s -> {output}/model"
        )


@app.command()
def sft(
    data: str = _DATA,
    output: Path = _OUTPUT,
    base: str = _BASE,
    max_steps: int = _STEPS,
    lr: float = _LR,
    lora_r: int = _RANK,
    seed: int = _SEED,
    max_length: int = _LEN,
    save_steps: int = _SAVE,
    threads: int = _THREADS,
    loss_on: str = typer.Option(None, "--loss-on", help="completion (default) or all."),
    restart: bool = _RESTART,
    no_progress: bool = _QUIET,
    as_json: bool = _JSON,
) -> None:
    """Supervised fine-tuning on `messages` rows (an sl_cai stage's output)."""
    _train(
        "sft",
        data,
        output,
        base,
        restart,
        no_progress,
        as_json,
        max_steps=max_steps,
        learning_rate=lr,
        lora_r=lora_r,
        seed=seed,
        max_length=max_length,
        save_steps=save_steps,
        threads=threads,
        loss_on=loss_on,
    )


@app.command()
def reward(
    data: str = _DATA,
    output: Path = _OUTPUT,
    base: str = _BASE,
    max_steps: int = _STEPS,
    lr: float = _LR,
    lora_r: int = _RANK,
    seed: int = _SEED,
    max_length: int = _LEN,
    save_steps: int = _SAVE,
    threads: int = _THREADS,
    labels: str = typer.Option(None, "--labels", help="label_prob as soft (default)|margin|hard."),
    min_label_prob: float = _MIN_PROB,
    restart: bool = _RESTART,
    no_progress: bool = _QUIET,
    as_json: bool = _JSON,
) -> None:
    """A preference (reward) model on prompt/chosen/rejected pairs (rl_cai_labels output)."""
    _train(
        "reward",
        data,
        output,
        base,
        restart,
        no_progress,
        as_json,
        max_steps=max_steps,
        learning_rate=lr,
        lora_r=lora_r,
        seed=seed,
        max_length=max_length,
        save_steps=save_steps,
        threads=threads,
        labels=labels,
        min_label_prob=min_label_prob,
    )


@app.command()
def dpo(
    data: str = _DATA,
    output: Path = _OUTPUT,
    base: str = _BASE,
    max_steps: int = _STEPS,
    lr: float = _LR,
    lora_r: int = _RANK,
    seed: int = _SEED,
    max_length: int = _LEN,
    save_steps: int = _SAVE,
    threads: int = _THREADS,
    beta: float = typer.Option(None, "--beta", help="DPO beta (default 0.1)."),
    min_label_prob: float = _MIN_PROB,
    restart: bool = _RESTART,
    no_progress: bool = _QUIET,
    as_json: bool = _JSON,
) -> None:
    """Direct preference optimization on prompt/chosen/rejected pairs."""
    _train(
        "dpo",
        data,
        output,
        base,
        restart,
        no_progress,
        as_json,
        max_steps=max_steps,
        learning_rate=lr,
        lora_r=lora_r,
        seed=seed,
        max_length=max_length,
        save_steps=save_steps,
        threads=threads,
        beta=beta,
        min_label_prob=min_label_prob,
    )


@app.command()
def grpo(
    data: str = typer.Option(
        "builtin:redteam", "--data", help="Prompts: builtin:redteam|helpfulness or a file."
    ),
    output: Path = _OUTPUT,
    base: str = _BASE,
    reward_model: Path = typer.Option(
        None, "--reward-model", help="Output folder of `charter train reward`."
    ),
    reward_fn: str = typer.Option(
        None,
        "--reward-fn",
        help="wish:<ledger> (the wish-sampled reward, e.g. wish:builtin:sample) or "
        "module:attr of a (prompts, completions, **kw) reward function.",
    ),
    max_steps: int = _STEPS,
    lr: float = _LR,
    lora_r: int = _RANK,
    seed: int = _SEED,
    save_steps: int = _SAVE,
    threads: int = _THREADS,
    num_generations: int = typer.Option(None, "--num-generations", help="Group size (2)."),
    max_completion_length: int = typer.Option(
        None, "--max-completion-length", help="Tokens per sampled completion (32)."
    ),
    prompt_limit: int = typer.Option(None, "--limit", help="Use only the first N prompts."),
    restart: bool = _RESTART,
    no_progress: bool = _QUIET,
    as_json: bool = _JSON,
) -> None:
    """GRPO on prompts against a trained reward model or a reward function."""
    _train(
        "grpo",
        data,
        output,
        base,
        restart,
        no_progress,
        as_json,
        reward_model=reward_model,
        reward_fn=reward_fn,
        max_steps=max_steps,
        learning_rate=lr,
        lora_r=lora_r,
        seed=seed,
        save_steps=save_steps,
        threads=threads,
        num_generations=num_generations,
        max_completion_length=max_completion_length,
        prompt_limit=prompt_limit,
    )
