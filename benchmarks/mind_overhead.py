"""MIND's overhead: wall time per trained target token of ``mind`` / ``mcc_kd`` on the same items.

Same tiny student (4 layers, d_model 128), same items (every rationale of the eight built-in paradigms
for the world's training questions), same whole-question batches, same token budget, same thread count;
MIND also reads the feedback set (its Spearman probe). Each method trains in its own child process,
``--repeats`` times, alternating; the ratio uses the median times of the training loop (MetaNet forward,
backward and steps, the probe, the forward passes over unselected trajectories). MIND's one-off set-up
(encoder vectors, cached across the runs of a grid, and the warm-up) is reported apart as ``mind_setup_s``.
Goal: ratio <= 1.3.

    python benchmarks/mind_overhead.py [--questions 200] [--budget 200000] [--meta-accum 8] [--threads 1]

The last stdout line is one JSON object with the figures.
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path


def build(args):
    """Strategy, tokenizer, fresh student, train and feedback items: identical in every process."""
    from mind_lib.params.world import WorldParams
    from mind_lib.rationales import make_row
    from mind_lib.strategies.registry import get_strategy
    from mind_lib.student import build_tiny_student, train_word_tokenizer
    from mind_lib.params.student import StudentParams
    from mind_lib.tasks.world import generate_world
    from mind_lib.styles import PARADIGMS
    from mind_lib.teachers.builtin import BuiltinTeacher

    world = generate_world(WorldParams(n_train=args.questions, n_feedback=100, n_test=1, n_general_train=1,
                                       n_general_test=1))

    def rows(examples):
        return [make_row(e, s, s, 0, BuiltinTeacher(s, s).write(e, 0, 0)[0], {}) for s in PARADIGMS for e in examples]

    train_rows, fb_rows = rows(world["train"]), rows(world["feedback"])
    options = ({"meta_accum": args.meta_accum, "probe_every": args.probe_every, "warmup_epochs": 1}
               if args.method == "mind" else {})
    strategy = get_strategy(args.method, options)
    student = StudentParams(max_len=512)
    tokenizer = train_word_tokenizer([e.question for e in world["train"]] + [r["rationale"] for r in train_rows]
                                     + ["Answer:"], vocab_size=student.vocab_size, max_len=student.max_len)
    items = strategy.build_items(world["train"], train_rows, tokenizer, student.max_len)
    feedback = strategy.build_items(world["feedback"], fb_rows, tokenizer, student.max_len)
    return strategy, tokenizer, build_tiny_student(student, tokenizer), items, feedback


def worker(args) -> dict:
    import time

    import torch

    from mind_lib.trainer import train

    from mind_lib.params.train import TrainParams

    torch.set_num_threads(args.threads)
    strategy, tokenizer, model, items, feedback = build(args)
    params = TrainParams(lr=1e-3, batch_size=args.batch_size, budget_tokens=args.budget, save_every=0, log_every=50,
                         progress=False, mixed_precision="no", cpu=True, num_threads=args.threads)
    with tempfile.TemporaryDirectory() as out:
        strategy.use_cache(Path(out) / "cache")
        t0 = time.perf_counter()
        summary = train(model, tokenizer, strategy, items, params, out, eval_set=feedback)
        total = time.perf_counter() - t0
    # summary wall_s: the training loop only (set-up and the final eval pass are outside it)
    return {"method": args.method, "wall_s": summary["wall_s"], "target_tokens": summary["target_tokens"],
            "steps": summary["steps"], "setup_s": total - summary["wall_s"]}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--questions", type=int, default=200)
    p.add_argument("--budget", type=int, default=200000, help="trained target tokens per run (>= one epoch: MIND warms up for one)")
    p.add_argument("--meta-accum", type=int, default=8)
    p.add_argument("--probe-every", type=int, default=50)
    p.add_argument("--batch-size", type=int, default=32, help="training batch (params.yaml's default profile: 4)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--method", default=None, help=argparse.SUPPRESS)  # set in the child processes
    args = p.parse_args(argv)
    if args.method:
        print(json.dumps(worker(args)))
        return
    times: dict[str, list[float]] = {"mcc_kd": [], "mind": []}
    tokens, setup = {}, {}
    for _ in range(args.repeats):
        for method in times:
            cmd = [sys.executable, str(Path(__file__).resolve()), "--method", method,
                   *[f"--{k.replace('_', '-')}={v}" for k, v in vars(args).items() if k not in ("method", "repeats")]]
            res = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1])
            times[method].append(res["wall_s"])
            tokens[method] = res["target_tokens"]
            setup.setdefault(method, []).append(res["setup_s"])
            print(f"{method}: {res['wall_s']:.1f} s for {res['target_tokens']} target tokens ({res['steps']} steps)",
                  file=sys.stderr)
    per_token = {m: statistics.median(t) / tokens[m] for m, t in times.items()}
    print(json.dumps({"ratio_mind_over_mcc_kd": round(per_token["mind"] / per_token["mcc_kd"], 4),
                      "mind_s_per_ktoken": round(1000 * per_token["mind"], 4),
                      "mcc_kd_s_per_ktoken": round(1000 * per_token["mcc_kd"], 4),
                      "mind_wall_s": times["mind"], "mcc_kd_wall_s": times["mcc_kd"],
                      "mind_setup_s": round(statistics.median(setup["mind"]), 3),
                      "mcc_kd_setup_s": round(statistics.median(setup["mcc_kd"]), 3),
                      "target_tokens": tokens, "meta_accum": args.meta_accum, "probe_every": args.probe_every,
                      "threads": args.threads, "batch_size": args.batch_size, "questions": args.questions}))


if __name__ == "__main__":
    main()
