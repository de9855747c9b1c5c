"""SL-CAI throughput on one GPU with a 7B-class model: prompts/s per GPU for one round.

Run on a CUDA machine (the device tool), from the repository root::

    PYTHONPATH=src python3 bench/bench_cai_gpu.py --tokenizer .gpu/tokenizer --prompts 128

What it measures: the ``sl_cai`` stage (:func:`charter.cai.sl.run_sl_cai`; one
round = initial answer, critique, revision per prompt; its stores, parsing and
waves) on the transformers backend with micro-batching (``batch_size``), on one
GPU, against the open anchor of about 0.12 prompts/s per GPU (44,849 prompts in
97 minutes on 64 GPUs; goal >= 10x). The same requests, replayed straight
into ``generate_batch`` in full batches, give the raw figure in the same run
(pipeline/raw ratio).

The model is Llama-2-7B-shaped (32 layers, d=4096, MLP 11008, 32 heads, bf16)
with random weights, because no 7B checkpoint can be fetched on the GPU machine
(no network) and vLLM cannot be installed there either. Compute and memory
traffic per token equal a real 7B's; random weights rarely emit EOS, so every
answer runs to its token limit: the slowest case for a batch. Built once into
``--model-dir`` (about 13.5 GB), then loaded through the ordinary backend.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

from bench_cai import Recorder, pipeline_runner
from charter.backends import ModelSpec, load_chat_model

ANCHOR_PROMPTS_PER_GPU_S = 44_849 / (97 * 60) / 64  # about 0.12


def build_model(folder: Path, tokenizer_dir: Path) -> None:
    """Write a random-weight Llama-2-7B-shaped checkpoint with the given tokenizer."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir, local_files_only=True)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=4096,
        intermediate_size=11008,
        num_hidden_layers=32,
        num_attention_heads=32,
        num_key_value_heads=32,
        max_position_embeddings=4096,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        torch_dtype="bfloat16",
    )
    torch.manual_seed(0)
    torch.set_default_dtype(torch.bfloat16)
    with torch.device("cuda"):
        model = LlamaForCausalLM(config)
    torch.set_default_dtype(torch.float32)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    del model
    torch.cuda.empty_cache()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokenizer", type=Path, required=True, help="a tokenizer folder")
    parser.add_argument("--model-dir", type=Path, default=Path("/tmp/llama7b-random"))
    parser.add_argument("--prompts", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=16, help="KV cache: ~0.5 MB/token")
    parser.add_argument("--max-tokens", type=int, default=256, help="for every step")
    parser.add_argument("--rounds", type=int, default=1, help="timed pipeline/raw pairs")
    args = parser.parse_args()

    import torch

    if not torch.cuda.is_available():
        sys.exit("bench_cai_gpu needs a CUDA GPU.")
    start = time.perf_counter()
    if not (args.model_dir / "config.json").exists():
        build_model(args.model_dir, args.tokenizer)
    build_s = time.perf_counter() - start
    print(f"built in {build_s:.0f} s", file=sys.stderr)
    start = time.perf_counter()
    model = load_chat_model(
        ModelSpec(backend="transformers", model=str(args.model_dir), batch_size=args.batch_size)
    )
    load_s = time.perf_counter() - start
    print(f"loaded in {load_s:.0f} s", file=sys.stderr)
    stage = {
        "name": "sl",
        "kind": "sl_cai",
        "policy": "policy",
        "limit": args.prompts,
        "rounds": 1,
        "helpful_ratio": 0,
        "chunk_size": args.prompts,
        "response_max_tokens": args.max_tokens,
        "critique_max_tokens": args.max_tokens,
        "revision_max_tokens": args.max_tokens,
    }
    with tempfile.TemporaryDirectory() as tmp:
        pipeline = pipeline_runner(model, stage, Path(tmp))
        # Warm-up on a few prompts: CUDA kernels, allocator, tokenizer caches.
        recorder = Recorder(model)
        print(f"warm-up run: {pipeline(recorder):.0f} s", file=sys.stderr)
        requests = recorder.requests

        def raw() -> float:
            start = time.perf_counter()
            for i in range(0, len(requests), args.batch_size):
                chunk = requests[i : i + args.batch_size]
                model.generate_batch([m for m, _ in chunk], chunk[0][1])
            torch.cuda.synchronize()
            return time.perf_counter() - start

        pipe_s, raw_s = [], []
        for _ in range(args.rounds):
            pipe_s.append(pipeline())
            raw_s.append(raw())
            print(f"pipeline {pipe_s[-1]:.0f} s, raw {raw_s[-1]:.0f} s", file=sys.stderr)
    pipe, rawt = statistics.median(pipe_s), statistics.median(raw_s)
    per_gpu = args.prompts / pipe
    result = {
        "bench": "sl_cai 1 round on one GPU, transformers backend micro-batched",
        "gpu": torch.cuda.get_device_name(0),
        "model": "Llama-2-7B-shaped, random weights, bf16",
        "prompts": args.prompts,
        "calls_per_run": len(requests),
        "batch_size": args.batch_size,
        "max_tokens_per_step": args.max_tokens,
        "max_new_tokens_requested": sum(p.max_tokens for _, p in requests),
        "build_s": round(build_s, 1),
        "load_s": round(load_s, 1),
        "pipeline_s": [round(s, 1) for s in pipe_s],
        "raw_s": [round(s, 1) for s in raw_s],
        "pipeline_prompts_per_gpu_s": round(per_gpu, 3),
        "raw_prompts_per_gpu_s": round(args.prompts / rawt, 3),
        "pipeline_vs_raw": round(rawt / pipe, 3),
        "anchor_prompts_per_gpu_s": round(ANCHOR_PROMPTS_PER_GPU_S, 3),
        "speedup_vs_anchor": round(per_gpu / ANCHOR_PROMPTS_PER_GPU_S, 1),
        "batches_run": model._batcher.batches_run if model._batcher else None,
    }
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
