"""Optimizer step time: the trainer's AdamW (``build_optimizer``, fused kernel) vs torch's for-loop and foreach ones.

The student is built as the pretrain stage builds it (``build_tiny_student``: params.yaml's size, tied embeddings,
a word tokenizer trained on the world's questions and every teacher style's rationales); same random batch, same
thread count; each optimizer gets ``--warmup`` untimed steps, then ``--steps`` timed ones. Timed per step: forward + backward,
and gradient clipping + optimizer step + zero_grad (what the optimizer choice changes).

    python benchmarks/optimizer_step.py [--steps 100] [--batch-size 4] [--seq-len 60] [--threads 1]

The last stdout line is one JSON object with the figures.
"""
from __future__ import annotations

import argparse
import json
import time

import torch


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=100)
    p.add_argument("--warmup", type=int, default=20)
    p.add_argument("--batch-size", type=int, default=4)
    p.add_argument("--seq-len", type=int, default=60)
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    args = p.parse_args()
    torch.set_num_threads(args.threads)

    from mind_lib.params.world import WorldParams

    from mind_lib.params.all import load_params
    from mind_lib.student import build_tiny_student, n_parameters, train_word_tokenizer
    from mind_lib.tasks.world import generate_world
    from mind_lib.styles import PARADIGMS
    from mind_lib.teachers.builtin import BuiltinTeacher
    from mind_lib.trainer import build_optimizer
    from mind_lib.params.train import TrainParams

    size = load_params(sections=("student",)).student  # params.yaml's student (profiles applied)
    examples = generate_world(WorldParams(n_train=200, n_feedback=1, n_test=1, n_general_train=1,
                                          n_general_test=1))["train"]
    texts = [e.question for e in examples] + [BuiltinTeacher(st, st).write(e, 0, 0)[0] for st in PARADIGMS for e in examples]
    tokenizer = train_word_tokenizer(texts + ["Answer:"], vocab_size=size.vocab_size, max_len=size.max_len)
    model = build_tiny_student(size, tokenizer)
    torch.manual_seed(0)
    batch = torch.randint(0, len(tokenizer), (args.batch_size, args.seq_len))
    params = TrainParams(budget_tokens=1)
    optimizers = {
        "trainer": lambda: build_optimizer(model, params),
        "for_loop": lambda: torch.optim.AdamW(model.parameters(), lr=params.lr, foreach=False),
        "foreach": lambda: torch.optim.AdamW(model.parameters(), lr=params.lr, foreach=True),
    }
    figures: dict = {"params": n_parameters(model), "vocab": len(tokenizer), "threads": args.threads,
                     "batch_size": args.batch_size, "seq_len": args.seq_len, "steps": args.steps}
    for name, make in optimizers.items():
        opt = make()
        t_model = t_opt = 0.0
        for i in range(args.warmup + args.steps):
            t0 = time.perf_counter()
            model(input_ids=batch, labels=batch).loss.backward()
            t1 = time.perf_counter()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            opt.zero_grad(set_to_none=True)
            t2 = time.perf_counter()
            if i >= args.warmup:
                t_model, t_opt = t_model + t1 - t0, t_opt + t2 - t1
        figures[f"{name}_forward_backward_ms"] = round(1000 * t_model / args.steps, 2)
        figures[f"{name}_clip_step_ms"] = round(1000 * t_opt / args.steps, 2)
    figures["fused"] = bool(build_optimizer(model, params).defaults["fused"])
    figures["clip_step_trainer_over_for_loop"] = round(figures["trainer_clip_step_ms"] / figures["for_loop_clip_step_ms"], 3)
    figures["step_saved_share"] = round(
        (figures["for_loop_clip_step_ms"] - figures["trainer_clip_step_ms"])
        / (figures["for_loop_forward_backward_ms"] + figures["for_loop_clip_step_ms"]), 3)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
