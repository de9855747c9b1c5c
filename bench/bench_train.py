"""Overhead of charter.train over plain TRL: the same SFT run both ways, in one process.

Both runs train the embedded SmolLM2-135M (from Charter's converted cache) with
the same LoRA adapter, data, batch, length, steps and seed; the ratio is the
plain TRL ``SFTTrainer`` training time over ``charter.train.train``'s (1.0 =
no overhead; checkpoints, logging and resumability are Charter's extras, the
merge and save after training are not counted). Model loading is excluded from
both. Run:

    HF_HUB_OFFLINE=1 .venv/bin/python bench/bench_train.py --steps 10 --threads 1
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

ANSWER = "Here is a careful, safe answer that explains the reasons and offers a better path. " * 3


def _rows(n: int) -> list[dict]:
    from charter.prompts import load_prompts

    return [
        {
            "messages": [
                {"role": "user", "content": p.prompt},
                {"role": "assistant", "content": ANSWER},
            ]
        }
        for p in load_prompts("builtin:redteam", limit=n)
    ]


def _plain_trl(folder: Path, rows: list[dict], options, out: Path) -> float:
    """The same training written directly against TRL, as a user without Charter would."""
    import datasets
    from trl import SFTConfig, SFTTrainer

    from charter.train.data import TrainData
    from charter.train.methods import common_args, lora_config, sft_rows
    from charter.train.models import load_model, load_tokenizer

    tokenizer = load_tokenizer(folder)
    model = load_model(folder, "causal", tokenizer)
    args = common_args(options, str(out), progress=False)
    args.update(save_strategy="no")
    data = TrainData(rows, "bench", "-")
    trainer = SFTTrainer(
        model=model,
        args=SFTConfig(**args, max_length=options.max_length, completion_only_loss=True),
        train_dataset=datasets.Dataset.from_list(sft_rows(data, options)),
        processing_class=tokenizer,
        peft_config=lora_config(options, "CAUSAL_LM"),
    )
    started = time.monotonic()
    trainer.train()
    return time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--rows", type=int, default=16)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()

    from charter.train import SFTOptions, train
    from charter.train.models import policy_hf_dir

    folder = policy_hf_dir()
    options = SFTOptions(max_steps=args.steps, threads=args.threads, max_length=512)
    rows = _rows(args.rows)
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "sft.jsonl"
        data.write_text("".join(json.dumps(r) + "\n" for r in rows))
        if args.threads:
            import torch

            torch.set_num_threads(args.threads)
        plain = _plain_trl(folder, rows, options, Path(tmp) / "plain")
        result = train("sft", data, Path(tmp) / "charter", options, progress=False)
    ratio = plain / result.wall_seconds
    print(
        json.dumps(
            {
                "steps": args.steps,
                "threads": args.threads,
                "plain_trl_s": round(plain, 2),
                "charter_train_s": round(result.wall_seconds, 2),
                "ratio_plain_over_charter": round(ratio, 3),
            }
        )
    )


if __name__ == "__main__":
    main()
