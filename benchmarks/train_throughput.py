"""Training throughput: ``mind_lib.trainer.train`` vs ``transformers.Trainer`` on the same work.

Same tiny student (default size: 4 layers, d_model 128), same items (every rationale of the eight
built-in paradigms for the world's training questions: ``ftcot_diverse``), same batch size, same
number of epochs, same thread count. Each trainer runs in its own child process, so that its peak
memory (``resource.getrusage``) is its own and neither inherits the other's warm caches.

Throughput is real (non-padding) tokens processed per second of the training call. The HF Trainer
runs twice: with its default random batches, and with its length-grouped sampler.

    python benchmarks/train_throughput.py [--questions 300] [--epochs 1] [--batch-size 16] [--threads 1]

The last stdout line is one JSON object with the figures.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

WORKERS = ("ours", "hf", "hf_grouped")


def build(args):
    """Tokenizer, a fresh tiny student and the tokenized items; identical in every process."""
    from mind_lib.params.world import WorldParams
    from mind_lib.rationales import make_row
    from mind_lib.strategies.registry import get_strategy
    from mind_lib.student import build_tiny_student, train_word_tokenizer
    from mind_lib.params.student import StudentParams
    from mind_lib.tasks.world import generate_world
    from mind_lib.styles import PARADIGMS
    from mind_lib.teachers.builtin import BuiltinTeacher

    world = generate_world(WorldParams(n_train=args.questions, n_feedback=1, n_test=1, n_general_train=1,
                                       n_general_test=1))
    examples = world["train"]
    rows = [make_row(e, style, style, 0, BuiltinTeacher(style, style).write(e, 0, 0)[0], {})
            for style in PARADIGMS for e in examples]
    strategy = get_strategy("ftcot_diverse")
    student = StudentParams(max_len=512)
    tokenizer = train_word_tokenizer([e.question for e in examples] + [r["rationale"] for r in rows] + ["Answer:"],
                                     vocab_size=student.vocab_size, max_len=student.max_len)
    items = strategy.build_items(examples, rows, tokenizer, student.max_len)
    return strategy, tokenizer, build_tiny_student(student, tokenizer), items


def run_ours(args, strategy, tokenizer, model, items, out):
    from mind_lib.trainer import train
    from mind_lib.params.train import TrainParams

    params = TrainParams(lr=1e-3, batch_size=args.batch_size, budget_tokens=args.epochs * sum(items.target_counts()),
                         save_every=0, log_every=50, progress=False, mixed_precision="no", cpu=True,
                         num_threads=args.threads)
    t0 = time.perf_counter()
    summary = train(model, tokenizer, strategy, items, params, out)
    return time.perf_counter() - t0, summary["steps"]


def run_hf(args, tokenizer, model, items, out, grouped: bool):
    from transformers import DataCollatorForSeq2Seq, Trainer, TrainingArguments

    data = [{"input_ids": list(it.input_ids), "attention_mask": [1] * len(it), "labels": list(it.labels)}
            for it in items.items]
    targs = TrainingArguments(
        output_dir=str(out), per_device_train_batch_size=args.batch_size, num_train_epochs=args.epochs,
        learning_rate=1e-3, lr_scheduler_type="cosine", warmup_steps=0.05, adam_beta2=0.95, max_grad_norm=1.0,
        logging_steps=50, save_strategy="no", report_to="none", use_cpu=True, disable_tqdm=True,
        dataloader_num_workers=0, seed=0, train_sampling_strategy="group_by_length" if grouped else "random")
    trainer = Trainer(model=model, args=targs, train_dataset=data, processing_class=tokenizer,
                      data_collator=DataCollatorForSeq2Seq(tokenizer, padding=True, label_pad_token_id=-100))
    t0 = time.perf_counter()
    result = trainer.train()
    return time.perf_counter() - t0, result.global_step


def worker(args) -> dict:
    import torch

    torch.set_num_threads(args.threads)
    strategy, tokenizer, model, items = build(args)
    with tempfile.TemporaryDirectory() as tmp:
        if args.worker == "ours":
            wall, steps = run_ours(args, strategy, tokenizer, model, items, Path(tmp))
        else:
            wall, steps = run_hf(args, tokenizer, model, items, Path(tmp), grouped=args.worker == "hf_grouped")
    tokens = args.epochs * sum(items.lengths())
    return {"worker": args.worker, "wall_s": wall, "steps": steps, "tokens": tokens, "tokens_per_s": tokens / wall,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "items": len(items)}


def padding_fractions(args) -> dict:
    """Share of padding in the batches: this trainer's length-grouped order vs random batches."""
    from mind_lib.trainer import length_grouped_batches

    _, _, _, items = build(args)
    lengths = np.asarray(items.lengths())

    def waste(batches):
        padded = sum(len(b) * lengths[b].max() for b in batches)
        return 1 - lengths.sum() / padded

    perm = np.random.default_rng(0).permutation(len(lengths))
    random_batches = [perm[i:i + args.batch_size] for i in range(0, len(perm), args.batch_size)]
    return {"padding_ours": waste(length_grouped_batches(lengths, args.batch_size, 16, 0, 0)),
            "padding_random_batches": waste(random_batches)}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--questions", type=int, default=300, help="world training questions (x5 rationales)")
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads in each run")
    p.add_argument("--worker", choices=WORKERS, default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(args)))
        return 0

    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads), TOKENIZERS_PARALLELISM="false")
    common = ["--questions", str(args.questions), "--epochs", str(args.epochs), "--batch-size", str(args.batch_size),
              "--threads", str(args.threads)]
    results = {}
    for name in WORKERS:
        proc = subprocess.run([sys.executable, __file__, *common, "--worker", name], env=env, capture_output=True,
                              text=True)
        if proc.returncode:
            sys.stderr.write(proc.stderr)
            raise SystemExit(f"worker {name} failed (exit {proc.returncode})")
        results[name] = json.loads(proc.stdout.strip().splitlines()[-1])
        r = results[name]
        print(f"{name:>10}: {r['tokens_per_s']:8.0f} tokens/s, {r['steps']} steps in {r['wall_s']:.1f} s, "
              f"peak RSS {r['peak_rss_mb']:.0f} MB")
    ours = results["ours"]["tokens_per_s"]
    figures = {
        "speedup_vs_hf": ours / results["hf"]["tokens_per_s"],
        "speedup_vs_hf_grouped": ours / results["hf_grouped"]["tokens_per_s"],
        **{f"{n}_tokens_per_s": results[n]["tokens_per_s"] for n in WORKERS},
        **{f"{n}_peak_rss_mb": results[n]["peak_rss_mb"] for n in WORKERS},
        **padding_fractions(args),
        "items": results["ours"]["items"], "tokens": results["ours"]["tokens"], "epochs": args.epochs,
        "batch_size": args.batch_size, "threads": args.threads,
    }
    print(f"this trainer is {figures['speedup_vs_hf']:.2f}x transformers.Trainer (random batches) and "
          f"{figures['speedup_vs_hf_grouped']:.2f}x with its length-grouped sampler")
    print(json.dumps({k: round(v, 4) if isinstance(v, float) else v for k, v in figures.items()}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
