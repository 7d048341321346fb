"""GPU throughput of distillation and evaluation for a Qwen2.5-0.5B-shaped student (issue #21).

The student is randomly initialised from a config of Qwen2.5-0.5B's shape (no download); the data are the
embedded world's questions with the eight built-in paradigms' rationales and a word-level tokenizer trained here.
Measured with the project's own code on the device accelerate picks (bf16 autocast where supported):

- distillation, per method (``std_cot``, ``mcc_kd``, ``mind``): tokens/s (prompt + target, all processed by the
  forward pass) over ``--steps`` optimizer steps after one warm-up step, and MFU = 6 x parameters x tokens/s /
  the GPU's peak dense bf16 FLOP/s (null on a CPU or an unknown GPU);
- evaluation: generated tokens/s of ``evaluate.generate_batched`` and of HF ``generate`` (greedy, same prompts,
  batch ``--eval-batch``), and vLLM's when it is installed.

Goals (README): >= 35% MFU for bf16 training on an H100/H200-class GPU; evaluation >= 2x HF ``generate`` at
batch 64. ``--shape tiny`` runs the same path on a CPU in seconds (tests/test_gpu_throughput.py).

    python benchmarks/gpu_throughput.py [--shape qwen0.5b|tiny] [--steps 20] [--methods std_cot,mcc_kd,mind]
        [--eval-batch 64] [--max-new-tokens 128]

The last stdout line is one JSON object with the figures.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SHAPES = {
    # Qwen2.5-0.5B's published config (hidden 896, 24 layers, 14 heads, 2 KV heads, SwiGLU 4864, tied embeddings)
    "qwen0.5b": dict(hidden_size=896, intermediate_size=4864, num_hidden_layers=24, num_attention_heads=14,
                     num_key_value_heads=2, vocab_size=151936, max_position_embeddings=32768,
                     tie_word_embeddings=True, rope_theta=1_000_000.0),
    "tiny": dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                 num_key_value_heads=2, vocab_size=1024, max_position_embeddings=1024, tie_word_embeddings=True),
}
PEAK_BF16 = {"H100": 989e12, "H200": 989e12, "A100": 312e12, "L40S": 362e12}  # dense, no sparsity


def peak_flops(device) -> float | None:
    import torch

    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    return next((v for k, v in PEAK_BF16.items() if k in name), None)


def build_data(questions: int, vocab_size: int):
    from mind_lib.params.world import WorldParams
    from mind_lib.rationales import make_row
    from mind_lib.student import train_word_tokenizer
    from mind_lib.styles import PARADIGMS
    from mind_lib.tasks.world import generate_world
    from mind_lib.teachers.builtin import BuiltinTeacher

    world = generate_world(WorldParams(n_train=questions, n_feedback=1, n_test=max(questions, 64), n_general_train=1,
                                       n_general_test=1))
    rows = [make_row(e, p, p, 0, BuiltinTeacher(p, p).write(e, 0, 0)[0], {}) for p in PARADIGMS for e in world["train"]]
    tokenizer = train_word_tokenizer([e.question for e in world["train"]] + [r["rationale"] for r in rows] + ["Answer:"],
                                     vocab_size=min(vocab_size, 1000), max_len=512)
    return world, rows, tokenizer


def build_model(shape: str, tokenizer):
    from transformers import AutoModelForCausalLM, Qwen2Config

    config = Qwen2Config(**SHAPES[shape], bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                         pad_token_id=tokenizer.pad_token_id)
    return AutoModelForCausalLM.from_config(config)


def train_throughput(method: str, args, world, rows, tokenizer) -> dict:
    import torch

    from mind_lib.params.train import TrainParams
    from mind_lib.strategies.registry import get_strategy
    from mind_lib.trainer import train

    options = {"mind": {"warmup_epochs": 0, "meta_accum": 2, "probe_every": 0},
               "std_cot": {"golden_perspective": "formal"}}.get(method, {})
    strategy = get_strategy(method, options)
    items = strategy.build_items(world["train"], rows, tokenizer, 512)
    model = build_model(args.shape, tokenizer)
    n_params = sum(p.numel() for p in model.parameters())
    params = TrainParams(lr=1e-4, batch_tokens=args.batch_tokens, budget_tokens=10 * sum(items.target_counts()),
                         max_steps=args.steps + 1, save_every=0, log_every=1, progress=False, replay_share=0.0,
                         cpu=not torch.cuda.is_available())
    with tempfile.TemporaryDirectory() as out:
        summary = train(model, tokenizer, strategy, items, params, out)
        log = [json.loads(line) for line in (Path(out) / "training" / "log.jsonl").read_text().splitlines()]
    steps = [r for r in log if r.get("event") == "train"]
    # the trainer's own meter, one row per step: the first step pays for compilation and allocator warm-up
    rates = sorted(r["tokens_per_s"] for r in steps[1:] if r.get("tokens_per_s")) or [steps[0]["tokens_per_s"]]
    tps = rates[len(rates) // 2]  # all processed tokens (prompt + target) of a step, per second
    device = next(model.parameters()).device
    peak = peak_flops(torch.device("cuda")) if torch.cuda.is_available() else None
    return {"params": n_params, "steps": summary["steps"], "tokens_per_s": round(tps, 1) if tps else None,
            "mfu": round(6 * n_params * tps / peak, 4) if tps and peak else None, "device": str(device)}


def eval_throughput(args, world, tokenizer) -> dict:
    import torch

    from mind_lib.evaluate import generate_batched, prompt_ids
    from mind_lib.formatting import format_prompt

    model = build_model(args.shape, tokenizer)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    model = model.to(device, dtype=torch.bfloat16 if device.type == "cuda" else torch.float32).eval()
    prompts = [format_prompt(e.question) for e in world["test_id"][:args.eval_batch]]
    out = {}
    t0 = time.perf_counter()
    texts = generate_batched(model, tokenizer, prompts, args.max_new_tokens, args.eval_batch, stop_at_answer=False)
    seconds = time.perf_counter() - t0
    generated = sum(len(tokenizer(t, add_special_tokens=False)["input_ids"]) for t in texts)
    out["ours_tokens_per_s"] = round(generated / seconds, 1)
    ids = prompt_ids(tokenizer, prompts)
    width = max(map(len, ids))
    pad = tokenizer.pad_token_id
    input_ids = torch.tensor([[pad] * (width - len(s)) + s for s in ids], device=device)
    mask = (input_ids != pad).long()
    with torch.inference_mode():
        t0 = time.perf_counter()
        hf = model.generate(input_ids=input_ids, attention_mask=mask, max_new_tokens=args.max_new_tokens,
                            do_sample=False, pad_token_id=pad, eos_token_id=tokenizer.eos_token_id)
        seconds = time.perf_counter() - t0
    out["hf_generate_tokens_per_s"] = round(int((hf[:, width:] != pad).sum()) / seconds, 1)
    out["ratio_ours_over_hf"] = round(out["ours_tokens_per_s"] / out["hf_generate_tokens_per_s"], 3)
    out["vllm"] = "not installed" if importlib.util.find_spec("vllm") is None else "installed, not measured here"
    return out


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--shape", choices=sorted(SHAPES), default="qwen0.5b")
    p.add_argument("--steps", type=int, default=20, help="optimizer steps measured per method (after one warm-up)")
    p.add_argument("--methods", default="std_cot,mcc_kd,mind")
    p.add_argument("--questions", type=int, default=200)
    p.add_argument("--batch-tokens", type=int, default=4096, help="target tokens per batch (train.batch_tokens)")
    p.add_argument("--eval-batch", type=int, default=64)
    p.add_argument("--max-new-tokens", type=int, default=128)
    args = p.parse_args(argv)
    import torch

    world, rows, tokenizer = build_data(args.questions, SHAPES[args.shape]["vocab_size"])
    result = {"shape": args.shape, "cuda": torch.cuda.is_available(),
              "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
              "train": {m: train_throughput(m, args, world, rows, tokenizer) for m in args.methods.split(",")},
              "eval": eval_throughput(args, world, tokenizer)}
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
