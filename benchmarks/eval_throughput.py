"""Evaluation throughput: ``mind_lib.evaluate.generate_batched`` vs a per-example ``model.generate`` loop.

Same tiny student (default size: 4 layers, d_model 128, randomly initialised: its greedy outputs never
state an answer, so every question runs to ``--max-new-tokens`` in both loops: the same work), same
world questions (``test_id``, prompted as in evaluation), same greedy decoding and answer-line stopping
(the loop uses ``AnswerLineStop``), same thread count. Both get one warm-up call first. The outputs of
the two are compared (they must be equal).

    python benchmarks/eval_throughput.py [--questions 128] [--batch-size 64] [--max-new-tokens 64] [--threads 1]

The last stdout line is one JSON object with the figures.
"""
from __future__ import annotations

import argparse
import json
import resource
import sys
import time

import torch


def build(args):
    """Tokenizer, a fresh tiny student and the evaluation prompts."""
    from mind_lib.params.world import WorldParams
    from mind_lib.formatting import answer_text, format_prompt
    from mind_lib.student import build_tiny_student, train_word_tokenizer
    from mind_lib.params.student import StudentParams
    from mind_lib.tasks.world import generate_world

    world = generate_world(WorldParams(n_train=1, n_feedback=1, n_test=args.questions, n_general_train=1,
                                       n_general_test=1))
    examples = world["test_id"]
    student = StudentParams()
    tokenizer = train_word_tokenizer([e.question for e in examples] + [format_prompt(answer_text("1"))],
                                     vocab_size=student.vocab_size, max_len=student.max_len)
    return tokenizer, build_tiny_student(student, tokenizer).eval(), [format_prompt(e.question) for e in examples]


@torch.inference_mode()
def per_example_generate(model, tokenizer, prompts, max_new_tokens) -> list[str]:
    """The baseline: ``model.generate`` on one prompt at a time, with the same stopping and trimming."""
    from mind_lib.evaluate import AnswerLineStop, prompt_ids, trim_to_answer

    out = []
    for ids in prompt_ids(tokenizer, prompts):
        g = model.generate(torch.tensor([ids]), max_new_tokens=max_new_tokens, do_sample=False,
                           pad_token_id=tokenizer.pad_token_id, stopping_criteria=[AnswerLineStop(tokenizer, len(ids))])
        out.append(trim_to_answer(tokenizer.decode(g[0, len(ids):], skip_special_tokens=True)))
    return out


def timed(fn, *args) -> tuple[float, list[str]]:
    t0 = time.perf_counter()
    result = fn(*args)
    return time.perf_counter() - t0, result


def main(argv=None):
    from mind_lib.evaluate import generate_batched

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--questions", type=int, default=128)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--max-new-tokens", type=int, default=64)
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)

    tokenizer, model, prompts = build(args)
    generate_batched(model, tokenizer, prompts[:2], 4, 2)  # warm-up
    per_example_generate(model, tokenizer, prompts[:2], 4)
    batched_s, batched = timed(generate_batched, model, tokenizer, prompts, args.max_new_tokens, args.batch_size)
    loop_s, loop = timed(per_example_generate, model, tokenizer, prompts, args.max_new_tokens)
    n = len(prompts)
    figures = {
        "ratio": (n / batched_s) / (n / loop_s),
        "batched_examples_per_s": n / batched_s,
        "per_example_generate_examples_per_s": n / loop_s,
        "batched_s": batched_s, "per_example_s": loop_s,
        "outputs_equal": batched == loop,
        "questions": n, "batch_size": args.batch_size, "max_new_tokens": args.max_new_tokens,
        "generated_tokens": sum(len(tokenizer(o, add_special_tokens=False)["input_ids"]) for o in batched),
        "threads": args.threads,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "device": str(model.device),
    }
    print(f"batched: {figures['batched_examples_per_s']:.1f} examples/s, per-example generate: "
          f"{figures['per_example_generate_examples_per_s']:.1f} examples/s -> {figures['ratio']:.1f}x "
          f"(outputs equal: {figures['outputs_equal']})")
    print(json.dumps({k: round(v, 4) if isinstance(v, float) else v for k, v in figures.items()}))
    return 0 if figures["outputs_equal"] else 1


if __name__ == "__main__":
    sys.exit(main())
