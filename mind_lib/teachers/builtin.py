"""Built-in programmatic teachers for the embedded world: the MIND paper's eight reasoning paradigms, and
five classic styles for multi-teacher configurations (docs/method.md §1.2).

Each paradigm takes its own route to the same answer:

- ``formal``: symbolic derivation with named states, each substituted (``y1 = y0 + 3 = 7 + 3 = 10``);
- ``intuitive``: everyday words about a pile, no symbols; each result follows from the previous sentence;
- ``decomposition``: numbered sub-problems, one per change, solved in order, then combined;
- ``planning``: the plan (the changes in order) first, then its execution;
- ``analogy``: the story mapped onto a counter that moves up, down, scales or divides;
- ``socratic``: questions to itself ("What changes next?") answered until nothing is left;
- ``contrastive``: candidate answers (no change counted, only the first change) put up, the full
  computation done, and the wrong candidates eliminated;
- ``counterfactual``: each change against what the amount would be without it, then what the last
  change does against its absence.

Each paradigm has its own per-step error rate (``PARADIGM_ERROR_RATE``). The classic styles:

- ``equation``: terse equations only (shortest; easiest to imitate);
- ``narrative``: the story retold, one sentence per change with its equation;
- ``program``: a variable updated line by line, like a trace of code;
- ``backward``: goal first, the changes listed from last to first, then computed forward;
- ``expert``: the teacher's "optimal" rationale: restatement, ordinal steps, and an inverse
  verification (longest; hardest for a small student).

No style states how many changes there are (a student could memorise that instead of reasoning).
Each teacher has a per-step error rate: a wrong step is either a *slip* (a wrong number written,
the right one carried on, so the rationale can reach the right answer through a wrong step) or a
*propagated* error (the wrong number is carried on and the answer is wrong), as real teachers do.
"""
from __future__ import annotations

from dataclasses import dataclass
from random import Random
from typing import Sequence

from mind_lib.formatting import answer_text
from mind_lib.styles import PARADIGMS, STYLES, per_paradigm
from mind_lib.tasks.base import Example
from mind_lib.tasks.world import SYMBOL, apply_op, stable_rng
from mind_lib.teachers.base import Teacher

# Each paradigm's own per-step error rate (ours): longer routes with more numbers to carry slip more often.
PARADIGM_ERROR_RATE = per_paradigm({"formal": 0.03, "intuitive": 0.08, "decomposition": 0.04, "planning": 0.05,
                                    "analogy": 0.06, "socratic": 0.05, "contrastive": 0.07, "counterfactual": 0.06},
                                   "PARADIGM_ERROR_RATE")
ORDINALS = ["First", "Next", "Then", "After that", "Later", "Afterwards", "Next", "Then"]
VERB = {"add": "gaining {k}", "sub": "losing {k}", "mul": "getting {k} times as many",
        "div": "keeping one of {k} equal parts"}
INVERSE = {"add": "sub", "sub": "add", "mul": "div", "div": "mul"}


@dataclass
class WrittenStep:
    """One step as the teacher writes it: ``a op k = shown``; ``carried`` goes into the next step."""

    op: str
    a: int
    k: int
    shown: int
    carried: int
    error: str | None  # None, "slip" or "propagated"


def work_steps(example: Example, rng: Random, error_rate: float, slip_share: float) -> list[WrittenStep]:
    """Redo the example's computation the way a fallible teacher would."""
    if "steps" not in example.meta:
        raise ValueError(f"built-in teachers only explain world problems with a step list; "
                         f"example {example.id} ({example.split}) has none")
    value = example.meta["start"]
    out = []
    for step in example.meta["steps"]:
        op, k = step["op"], step["operand"]
        true = apply_op(op, value, k)
        if rng.random() < error_rate:
            wrong = max(0, true + rng.choice([-2, -1, 1, 2]))
            wrong = wrong if wrong != true else true + 1
            kind = "slip" if rng.random() < slip_share else "propagated"
            out.append(WrittenStep(op, value, k, wrong, true if kind == "slip" else wrong, kind))
        else:
            out.append(WrittenStep(op, value, k, true, true, None))
        value = out[-1].carried
    return out


def _eq(s: WrittenStep) -> str:
    return f"{s.a} {SYMBOL[s.op]} {s.k} = {s.shown}"


INTUITIVE = {"add": "{k} more join it, making {v}.", "sub": "{k} leave it, leaving {v}.",
             "mul": "it grows to {k} times its size, which is {v}.", "div": "it is shared into {k} equal parts "
             "and one part stays, which is {v}."}
COUNTER = {"add": "Move it up {k}: it shows {v}.", "sub": "Move it down {k}: it shows {v}.",
           "mul": "Scale it by {k}: it shows {v}.", "div": "Divide it by {k}: it shows {v}."}


def _paradigm(style: str, example: Example, steps: list[WrittenStep]) -> str:
    """The body of one of the eight paradigms (module docstring); the answer line is added by ``render``."""
    meta, obj = example.meta, example.meta["object"]
    start, final = meta["start"], steps[-1].shown
    if style == "formal":
        parts = [f"Let y0 = {start}."]
        parts += [f"y{i + 1} = y{i} {SYMBOL[s.op]} {s.k} = {_eq(s)}." for i, s in enumerate(steps)]
        return " ".join(parts) + f" Hence y = {final}."
    if style == "intuitive":
        parts = [f"Picture the {obj} as one pile. It starts at {start}."]
        parts += [("Then " if i else "First ") + INTUITIVE[s.op].format(k=s.k, v=s.shown) for i, s in enumerate(steps)]
        return " ".join(parts) + f" So the pile ends at {final}."
    if style == "decomposition":
        parts = [f"Part {i + 1}: the amount after the {'first' if i == 0 else 'next'} change. {_eq(s)}."
                 for i, s in enumerate(steps)]
        return " ".join(parts) + f" Putting the parts together, the amount is {final}."
    if style == "planning":
        plan = ", then ".join(f"{SYMBOL[s.op]} {s.k}" for s in steps)
        return (f"Plan: start from {start} and apply {plan}, one at a time. Carrying out the plan: "
                + "; ".join(_eq(s) for s in steps) + ". The plan is done.")
    if style == "analogy":
        parts = [f"This works like a counter. The counter is set to {start}."]
        parts += [COUNTER[s.op].format(k=s.k, v=s.shown) for s in steps]
        return " ".join(parts) + f" The counter stands for the {obj}, so they are {final} too."
    if style == "socratic":
        parts = [f"How many {obj} are there at the start? {start}."]
        parts += [f"What changes {'first' if i == 0 else 'next'}? {SYMBOL[s.op]} {s.k}, so {_eq(s)}."
                  for i, s in enumerate(steps)]
        return " ".join(parts) + f" Is any change left? No. So how many are there now? {final}."
    if style == "contrastive":
        first = apply_op(steps[0].op, start, steps[0].k)
        wrong = [c for c in dict.fromkeys([start, first]) if c != final]
        verdict = (f"{' and '.join(map(str, wrong))} miss{'es' if len(wrong) == 1 else ''} later changes, so "
                   f"{'it is' if len(wrong) == 1 else 'they are'} eliminated." if wrong
                   else "The candidates agree with the full computation.")
        return (f"Candidate answers: {start} if no change counted, {first} if only the first change counted "
                f"({start} {SYMBOL[steps[0].op]} {steps[0].k} = {first}), or the amount after every change. "
                f"Working every change: " + ", ".join(_eq(s) for s in steps) + f". {verdict}")
    if style == "counterfactual":
        parts = [f"Without any change, {meta['name']} would have {start} {obj}."]
        parts += [f"With the {'first' if i == 0 else 'next'} change it is {_eq(s)} instead of {s.a}."
                  for i, s in enumerate(steps)]
        last = steps[-1]
        return " ".join(parts) + (f" Had the last change not happened, there would be {last.a}; "
                                  f"with it there are {final}.")
    raise ValueError(f"unknown paradigm {style!r}; allowed: {', '.join(PARADIGMS)}")


def render(style: str, example: Example, steps: list[WrittenStep]) -> str:
    """The rationale text of one style; always ends with "The answer is N." (N = the last number written)."""
    meta, obj = example.meta, example.meta["object"]
    final = steps[-1].shown
    if style in PARADIGMS:
        body = _paradigm(style, example, steps)
    elif style == "equation":
        body = " ".join(f"{_eq(s)}." for s in steps)
    elif style == "narrative":
        parts = [f"{meta['name']} starts with {meta['start']} {obj}."]
        parts += [f"After {VERB[s.op].format(k=s.k)}, {meta['name']} has {_eq(s)} {obj}." for s in steps]
        body = " ".join(parts)
    elif style == "program":
        parts = [f"n = {meta['start']} ;"]
        parts += [f"n = n {SYMBOL[s.op]} {s.k} = {s.shown} ;" for s in steps]
        body = " ".join(parts) + f" return n = {final} ;"
    elif style == "backward":
        changes = ", then ".join(f"{SYMBOL[s.op]} {s.k}" for s in reversed(steps))
        body = (f"Goal: the {obj} at the end. Working back from the end, the changes are {changes}, "
                f"and the start is {meta['start']}. Now forward: " + " ".join(f"{_eq(s)}." for s in steps))
    elif style == "expert":
        changes = ", ".join(f"{SYMBOL[s.op]} {s.k}" for s in steps)
        parts = [f"Restating the problem: {meta['name']} begins with {meta['start']} {obj}, "
                 f"and the amount changes by {changes}."]
        parts += [f"{ORDINALS[min(i, len(ORDINALS) - 1)]}, {_eq(s)}." for i, s in enumerate(steps)]
        # Verification: undo each change from the final value back to the start.
        value, checks = final, []
        for s in reversed(steps):
            back = apply_op(INVERSE[s.op], value, s.k)
            checks.append(f"{value} {SYMBOL[INVERSE[s.op]]} {s.k} = {back}")
            value = back
        verdict = "which matches the start" if value == meta["start"] else "which does not match the start"
        parts.append(f"Check by undoing the changes: {', '.join(checks)}, {verdict}.")
        body = " ".join(parts)
    else:
        raise ValueError(f"unknown style {style!r}; allowed: {', '.join(STYLES)}")
    return f"{body} {answer_text(final)}"


class BuiltinTeacher(Teacher):
    """A programmatic teacher of one style with a per-step error rate (deterministic per seed)."""

    def __init__(self, name: str, style: str, error_rate: float | None = 0.0, slip_share: float = 0.5,
                 perspective: str | None = None):
        if style not in STYLES:
            raise ValueError(f"teacher {name!r}: unknown style {style!r}; allowed: {', '.join(STYLES)}")
        if error_rate is None:  # the style's own rate: a paradigm's (PARADIGM_ERROR_RATE), else error-free
            error_rate = PARADIGM_ERROR_RATE.get(style, 0.0)
        if not 0.0 <= error_rate <= 1.0 or not 0.0 <= slip_share <= 1.0:
            raise ValueError(f"teacher {name!r}: error_rate and slip_share must be in [0, 1]")
        self.name, self.style, self.error_rate, self.slip_share = name, style, error_rate, slip_share
        self.perspective = perspective or style

    @classmethod
    def from_spec(cls, spec) -> "BuiltinTeacher":
        return cls(spec.name, spec.style, spec.error_rate, spec.slip_share, spec.perspective)

    @classmethod
    def paradigm_teachers(cls, spec) -> list["BuiltinTeacher"]:
        """One teacher writing every paradigm of ``spec.paradigms``: one ``BuiltinTeacher`` per paradigm, named
        ``<name>.<paradigm>``, the paradigm its perspective, at the paradigm's own error rate unless
        ``spec.error_rate`` is set."""
        return [cls(f"{spec.name}.{p}", p, spec.error_rate, spec.slip_share, p) for p in spec.paradigms]

    def write(self, example: Example, seed: int, sample: int) -> tuple[str, list[WrittenStep]]:
        """One rationale and the steps behind it; the stream depends only on (seed, teacher, question, sample),
        so a resumed collection writes exactly what an uninterrupted one would."""
        rng = stable_rng(seed, self.name, example.id, sample)
        steps = work_steps(example, rng, self.error_rate, self.slip_share)
        return render(self.style, example, steps), steps

    def generate(self, examples: Sequence[Example], n: int, seed: int) -> list[list[str] | None]:
        return [[self.write(e, seed, s)[0] for s in range(n)] for e in examples]

    def provenance(self) -> dict:
        return {"backend": "builtin", "style": self.style, "error_rate": self.error_rate,
                "slip_share": self.slip_share}
