"""Small hand-made questions, rationale rows and a 2-layer student shared by the distillation tests."""
from __future__ import annotations

from mind_lib.formatting import answer_text
from mind_lib.student import build_tiny_student, save_student, train_word_tokenizer
from mind_lib.params.student import StudentParams
from mind_lib.tasks.base import Example
from mind_lib.params.train import TrainParams

TINY = StudentParams(n_layers=2, d_model=32, n_heads=2, d_ff=64, max_len=96, vocab_size=300)
TEACHERS = ("expert", "equation", "narrative")
STYLE = {"expert": "{a} + {b} = {c}.", "equation": "x = {a} + {b} = {c}.",
         "narrative": "She had {a} apples and bought {b} more, so now she has {c} apples."}


def make_examples(n: int = 12, split: str = "train") -> list[Example]:
    out = []
    for i in range(n):
        a, b = 3 + 7 * i % 40, 1 + i % 6
        out.append(Example(f"{split}-{i}", f"Mia has {a} apples. She buys {b} more. How many apples does Mia have?",
                           str(a + b), "number", split, {"a": a, "b": b}))
    return out


def make_row(e: Example, teacher: str, sample: int = 0, correct: bool = True) -> dict:
    a, b = e.meta["a"], e.meta["b"]
    c = a + b if correct else a + b + 1
    rationale = STYLE[teacher].format(a=a, b=b, c=c) + "\n" + answer_text(str(c))
    return {"question_id": e.id, "question": e.question, "gold": e.answer, "kind": e.kind, "teacher": teacher,
            "perspective": teacher, "sample": sample, "rationale": rationale, "pred_answer": str(c),
            "correct": correct, "run": {"backend": "test"}}


def make_rows(examples, teachers=TEACHERS, wrong: set[tuple[str, str]] = frozenset()) -> list[dict]:
    """One rationale per (question, teacher); ``wrong`` lists (question id, teacher) pairs that miss the answer."""
    return [make_row(e, t, correct=(e.id, t) not in wrong) for e in examples for t in teachers]


def make_tokenizer(examples, rows):
    return train_word_tokenizer([e.question for e in examples] + [r["rationale"] for r in rows] +
                                ["Answer: [label] [rationale] The answer is"], vocab_size=TINY.vocab_size)


def save_tiny_student(folder, examples, rows, params: StudentParams = TINY):
    tokenizer = make_tokenizer(examples, rows)
    save_student(build_tiny_student(params, tokenizer), tokenizer, folder)
    return folder


def fast_train(**update) -> TrainParams:
    """Small batches, a budget of a few steps, no progress bar; ``update`` overrides fields."""
    base = dict(lr=3e-3, batch_size=4, budget_tokens=400, save_every=0, log_every=1, progress=False,
                mixed_precision="no", cpu=True, group_size=2, warmup_ratio=0.1)
    return TrainParams(**(base | update))
