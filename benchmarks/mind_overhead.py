"""MIND's overhead: wall time per trained target token of ``mind`` / ``ftcot_diverse``.

Same tiny student (4 layers, d_model 128), same items (every rationale of the five built-in teachers
for the world's training questions), same token budget, same thread count; MIND also needs the
feedback set (the world's feedback questions). Each method trains in its own child process (no warm
caches shared), ``--repeats`` times, alternating; the ratio uses the median times. Goal: <= 1.15 with
``meta_every`` 10.

    python benchmarks/mind_overhead.py [--questions 300] [--budget 60000] [--meta-every 10] [--threads 1]

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
    from mind_lib.config import WorldParams
    from mind_lib.rationales import make_row
    from mind_lib.strategies import get_strategy
    from mind_lib.student import StudentParams, build_tiny_student, train_word_tokenizer
    from mind_lib.tasks.world import generate_world
    from mind_lib.teachers.builtin import STYLES, BuiltinTeacher

    world = generate_world(WorldParams(n_train=args.questions, n_feedback=100, n_test=1, n_general_train=1,
                                       n_general_test=1))

    def rows(examples):
        return [make_row(e, s, s, 0, BuiltinTeacher(s, s).write(e, 0, 0)[0], {}) for s in STYLES for e in examples]

    train_rows, fb_rows = rows(world["train"]), rows(world["feedback"])
    options = ({"meta_every": args.meta_every, "feedback_batch_size": args.feedback_batch_size}
               if args.method == "mind" else {})
    strategy = get_strategy(args.method, options)
    student = StudentParams(max_len=512)
    tokenizer = train_word_tokenizer([e.question for e in world["train"]] + [r["rationale"] for r in train_rows]
                                     + ["Answer:"], vocab_size=student.vocab_size, max_len=student.max_len)
    items = strategy.build_items(world["train"], train_rows, tokenizer, student.max_len)
    feedback = strategy.build_items(world["feedback"], fb_rows, tokenizer, student.max_len)
    return strategy, tokenizer, build_tiny_student(student, tokenizer), items, feedback


def worker(args) -> dict:
    import torch

    from mind_lib.trainer import TrainParams, train

    torch.set_num_threads(args.threads)
    strategy, tokenizer, model, items, feedback = build(args)
    params = TrainParams(lr=1e-3, batch_size=args.batch_size, budget_tokens=args.budget, save_every=0, log_every=50,
                         progress=False, mixed_precision="no", cpu=True, num_threads=args.threads)
    with tempfile.TemporaryDirectory() as out:
        summary = train(model, tokenizer, strategy, items, params, out, eval_set=feedback)
    # the final eval pass is the same for both methods; the training loop's wall time is what differs
    return {"method": args.method, "wall_s": summary["wall_s"], "target_tokens": summary["target_tokens"],
            "steps": summary["steps"]}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--questions", type=int, default=300)
    p.add_argument("--budget", type=int, default=60000, help="trained target tokens per run")
    p.add_argument("--meta-every", type=int, default=10)
    p.add_argument("--feedback-batch-size", type=int, default=32)
    p.add_argument("--batch-size", type=int, default=32, help="training batch (params.yaml's default profile: 4)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--method", default=None, help=argparse.SUPPRESS)  # set in the child processes
    args = p.parse_args(argv)
    if args.method:
        print(json.dumps(worker(args)))
        return
    times: dict[str, list[float]] = {"ftcot_diverse": [], "mind": []}
    tokens = {}
    for _ in range(args.repeats):
        for method in times:
            cmd = [sys.executable, str(Path(__file__).resolve()), "--method", method,
                   *[f"--{k.replace('_', '-')}={v}" for k, v in vars(args).items() if k not in ("method", "repeats")]]
            res = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1])
            times[method].append(res["wall_s"])
            tokens[method] = res["target_tokens"]
            print(f"{method}: {res['wall_s']:.1f} s for {res['target_tokens']} target tokens ({res['steps']} steps)",
                  file=sys.stderr)
    per_token = {m: statistics.median(t) / tokens[m] for m, t in times.items()}
    print(json.dumps({"ratio_mind_over_ftcot": round(per_token["mind"] / per_token["ftcot_diverse"], 4),
                      "mind_s_per_ktoken": round(1000 * per_token["mind"], 4),
                      "ftcot_s_per_ktoken": round(1000 * per_token["ftcot_diverse"], 4),
                      "mind_wall_s": times["mind"], "ftcot_wall_s": times["ftcot_diverse"],
                      "target_tokens": tokens, "meta_every": args.meta_every, "threads": args.threads,
                      "batch_size": args.batch_size, "feedback_batch_size": args.feedback_batch_size,
                      "questions": args.questions}))


if __name__ == "__main__":
    main()
