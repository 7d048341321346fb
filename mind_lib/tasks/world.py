"""The embedded reasoning world: seeded multi-step arithmetic word problems with real distribution shift.

A problem is a start amount followed by ``id_steps`` (default 3-4) changes (+, -, x, exact /) told in
English; the question asks for the final amount. Each OOD split differs from the in-distribution (ID) data in exactly one
property, so that it is disjoint from training *by construction*:

- ``ood_steps``: more changes than any ID problem (``ood_steps`` range above ``id_steps``);
- ``ood_templates``: every problem uses at least one phrasing never used in ID, and an unseen question form (the
  general suite's one- and two-step stories use them: new compositions of known words, never an unknown word);
- ``ood_distractor``: an irrelevant sentence with a number (SVAMP-style, known words only) inside the story;
- ``ood_numbers``: the start amount is above every ID number (values up to ``ood_max_value``, the same
  operands as ID): every step is a fact of the student's prior, which covers numbers up to ``ood_max_value``.

ID test problems never repeat a training computation (same start and same changes), whatever the
wording. The ``general`` suite stands for what the student knew before distillation: arithmetic
facts, 1-2 step word problems and listing a story's changes (ID phrasings only), comparisons, and
coin-flip state tracking, with numbers up to ``ood_max_value`` (docs/method.md §1.1).
"""
from __future__ import annotations

import hashlib
import itertools
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from mind_lib.params.world import STORY_STEPS, WorldParams
from mind_lib.tasks.base import Example, load_examples, save_examples, write_manifest

NAMES = [("Mia", "she"), ("Noah", "he"), ("Ava", "she"), ("Liam", "he"), ("Zoe", "she"), ("Omar", "he"),
         ("Lena", "she"), ("Ravi", "he"), ("Iris", "she"), ("Theo", "he"), ("Nina", "she"), ("Hugo", "he"),
         ("Emma", "she"), ("Kai", "he"), ("Sara", "she"), ("Leo", "he")]
OBJECTS = ["apples", "marbles", "stickers", "coins", "pencils", "cards", "shells", "books", "stamps",
           "beads", "cookies", "flowers"]
OPS = ("add", "sub", "mul", "div")
SYMBOL = {"add": "+", "sub": "-", "mul": "x", "div": "/"}

# Phrasings per operation. "id" ones appear in training; "ood" ones only in the ood_templates split.
# Fields: {P} subject pronoun (capitalised), {p} pronoun, {pos} possessive, {o} object pronoun,
# {name}, {friend}, {obj}, {k} operand.
TEMPLATES: dict[str, dict[str, list[str]]] = {
    "add": {"id": ["{P} buys {k} more {obj}.", "{P} finds {k} {obj}.", "{friend} gives {o} {k} {obj}."],
            "ood": ["{friend} hands {o} another {k} {obj}.", "A parcel arrives with {k} extra {obj} for {o}."]},
    "sub": {"id": ["{P} gives {k} {obj} to {friend}.", "{P} loses {k} {obj}.", "{P} uses {k} of the {obj}."],
            "ood": ["{friend} takes {k} {obj} away from {o}.", "Sadly, {k} of {pos} {obj} go missing."]},
    "mul": {"id": ["{P} gets {k} times as many {obj} as {p} had.",
                   "The number of {obj} {p} has becomes {k} times bigger."],
            "ood": ["{pos_cap} pile of {obj} grows to {k} times its size."]},
    "div": {"id": ["{P} puts {pos} {obj} into {k} equal bags and keeps one bag.",
                   "{P} splits {pos} {obj} into {k} equal groups and keeps one group."],
            "ood": ["{P} cuts {pos} stack of {obj} into {k} same-size parts, and only one part stays with {o}."]},
}
START = {"id": ["{name} has {n} {obj}.", "{name} starts with {n} {obj}."],
         "ood": ["At first, {name} owns {n} {obj}."]}
ASK = {"id": ["How many {obj} does {name} have now?", "How many {obj} does {name} have in the end?"],
       "ood": ["What is the final number of {obj} that {name} owns?"]}
# Irrelevant sentences (SVAMP-style) built only of words the student knows from its own stories: another person's
# amount of another object, told like a start or a change, so that nothing but relevance gives it away.
DISTRACTORS = ["{friend} has {m} {other}.", "{friend} finds {m} {other}.", "{friend} starts with {m} {other}.",
               "{friend} buys {m} more {other}."]
POSSESSIVE = {"she": "her", "he": "his"}
OBJECT_PRONOUN = {"she": "her", "he": "him"}

SPLITS_ID = ("train", "feedback", "test_id")
SPLITS_OOD = ("ood_steps", "ood_templates", "ood_distractor", "ood_numbers")
SPLITS_GENERAL = ("general_train", "general_test")
SKILLS = ("arith", "story", "parse", "compare", "coin")


def stable_rng(*parts) -> random.Random:
    """A ``random.Random`` seeded by a stable hash of ``parts`` (Python's ``hash`` is salted per process)."""
    digest = hashlib.sha256("|".join(map(str, parts)).encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "little"))


@dataclass(frozen=True)
class Shape:
    """What a split's problems look like: the one place where splits differ."""

    steps: tuple[int, int]
    max_value: int
    start_range: tuple[int, int]
    max_operand: int
    unseen_templates: bool = False
    distractor: bool = False
    any_templates: bool = False  # every phrasing from the ID and the OOD sets: the general suite's short stories


def split_shapes(p: WorldParams) -> dict[str, Shape]:
    base = dict(steps=p.id_steps, max_value=p.max_value, start_range=(2, p.max_value), max_operand=p.max_operand)
    return {
        "id": Shape(**base),
        "ood_steps": Shape(**{**base, "steps": p.ood_steps}),
        "ood_templates": Shape(**base, unseen_templates=True),
        "ood_distractor": Shape(**base, distractor=True),
        # larger amounts, nothing else: the same operands and steps, every step a fact the base student
        # knows (its general suite runs to ood_max_value) but that distillation data never shows
        "ood_numbers": Shape(steps=p.id_steps, max_value=p.ood_max_value,
                             start_range=(p.max_value + 1, p.ood_max_value), max_operand=p.max_operand),
    }


def _feasible_ops(value: int, shape: Shape) -> list[tuple[str, list[int]]]:
    """Every (op, operands) that keeps the value a whole number in [1, max_value]."""
    out = []
    room = min(shape.max_operand, shape.max_value - value)
    if room >= 1:
        out.append(("add", list(range(1, room + 1))))
    if value >= 2:
        out.append(("sub", list(range(1, min(shape.max_operand, value - 1) + 1))))
    muls = [k for k in range(2, 6) if value * k <= shape.max_value]
    if muls:
        out.append(("mul", muls))
    divs = [k for k in range(2, 6) if value % k == 0]
    if divs:
        out.append(("div", divs))
    return out


def apply_op(op: str, a: int, k: int) -> int:
    return {"add": a + k, "sub": a - k, "mul": a * k, "div": a // k}[op]


def _chain(rng: random.Random, shape: Shape, n_steps: int) -> tuple[int, list[dict]]:
    start = rng.randint(*shape.start_range)
    value, steps = start, []
    for _ in range(n_steps):
        op, operands = rng.choice(_feasible_ops(value, shape))
        k = rng.choice(operands)
        after = apply_op(op, value, k)
        steps.append({"op": op, "operand": k, "before": value, "after": after})
        value = after
    return start, steps


def _fill(template: str, **kw) -> str:
    return template.format(**kw)


def make_problem(rng: random.Random, shape: Shape, idx: str, split: str) -> Example:
    """One word problem of the given shape; the step list goes into ``meta``."""
    name, pron = rng.choice(NAMES)
    friend = rng.choice([n for n, _ in NAMES if n != name])
    obj = rng.choice(OBJECTS)
    n_steps = rng.randint(*shape.steps)
    start, steps = _chain(rng, shape, n_steps)
    words = dict(name=name, friend=friend, obj=obj, P=pron.capitalize(), p=pron, pos=POSSESSIVE[pron],
                 pos_cap=POSSESSIVE[pron].capitalize(), o=OBJECT_PRONOUN[pron])

    # Unseen-template problems: each phrasing is drawn from the OOD set with probability 1/2, and at
    # least one step (plus the question) always is, so no such problem can occur in ID data.
    forced = rng.randrange(n_steps) if shape.unseen_templates else -1
    mixed = shape.unseen_templates or shape.any_templates
    sentences, used = [], []
    pool = "ood" if mixed and rng.random() < 0.5 else "id"
    start_t = rng.choice(START[pool])
    sentences.append(_fill(start_t, n=start, **words))
    used.append(f"start.{pool}.{START[pool].index(start_t)}")
    for i, step in enumerate(steps):
        pool = "ood" if mixed and (i == forced or rng.random() < 0.5) else "id"
        options = TEMPLATES[step["op"]][pool]
        t = rng.choice(options)
        step["template"] = f"{step['op']}.{pool}.{options.index(t)}"
        used.append(step["template"])
        sentences.append(_fill(t, k=step["operand"], **words))
    distractor = None
    if shape.distractor:
        other = rng.choice([o for o in OBJECTS if o != obj])
        distractor = _fill(rng.choice(DISTRACTORS), friend=friend, m=rng.randint(2, shape.max_value), other=other)
        sentences.insert(rng.randint(1, len(sentences)), distractor)
    ask_pool = "ood" if shape.unseen_templates or (shape.any_templates and rng.random() < 0.5) else "id"
    sentences.append(_fill(rng.choice(ASK[ask_pool]), **words))
    meta = {"start": start, "steps": steps, "n_steps": n_steps, "templates": used, "name": name,
            "object": obj, "distractor": distractor}
    return Example(id=idx, question=" ".join(sentences), answer=str(steps[-1]["after"]), kind="number",
                   split=split, meta=meta)


def computation_key(ex: Example) -> tuple:
    """What a problem computes, regardless of wording: used to keep ID test apart from training."""
    return ex.meta["start"], tuple((s["op"], s["operand"]) for s in ex.meta["steps"])


def _unique(make: Callable[[int], Example], n: int, key: Callable[[Example], object], taken: set,
            what: str) -> list[Example]:
    """Draw examples until ``n`` have a key not in ``taken`` (which is updated).

    Gives up after 2000 draws in a row found nothing new: the space is (nearly) exhausted.
    """
    out, attempts, misses = [], 0, 0
    while len(out) < n:
        attempts += 1
        ex = make(attempts)
        k = key(ex)
        if k in taken:
            misses += 1
            if misses > 2000:
                raise ValueError(f"world: cannot draw {n} distinct {what} problems (got {len(out)}); "
                                 f"raise max_value/max_operand or lower the split sizes")
            continue
        misses = 0
        taken.add(k)
        out.append(ex)
    return out


# ---------------------------------------------------------------------------------------------
# the general suite: what the student knows before distillation


ARITH_WORDS = {"add": "plus", "sub": "minus", "mul": "times", "div": "divided by"}


def make_general(rng: random.Random, skill: str, idx: str, split: str, max_value: int,
                 max_operand: int = 12, parse_steps: int = 4) -> Example:
    """One general-suite question. Arithmetic facts are exactly the steps the world's problems need
    (values up to ``max_value``, +/- operands up to ``max_operand``, x and / by 2..5) and carry a worked
    equation in ``meta["worked"]`` ("7 + 5 = 12."): the prior knowledge distillation builds on."""
    if skill == "arith":
        value = rng.randint(1, max_value)  # 1 too: chains reach it (5 - 4, 4 / 4) and go on from it
        shape = Shape(steps=(1, 1), max_value=max_value, start_range=(value, value), max_operand=max_operand)
        op, operands = rng.choice(_feasible_ops(value, shape))
        k = rng.choice(operands)
        ans = apply_op(op, value, k)
        return Example(idx, f"What is {value} {ARITH_WORDS[op]} {k}?", str(ans), "number", split,
                       {"skill": skill, "a": value, "b": k, "op": op, "worked": f"{value} {SYMBOL[op]} {k} = {ans}."})
    if skill == "story":
        # one or two changes worked out step by step: the component skills every world problem chains (read
        # the i-th change, do one fact). ID problems have more steps than any story (id_steps starts above
        # STORY_STEPS), so distillation must teach longer chains and the teachers' styles. The stories use
        # every phrasing, the OOD ones included: the student knows each word, and ood_templates asks for new
        # compositions of known words in problems longer than any story (docs/method.md §1.1).
        shape = Shape(steps=STORY_STEPS, max_value=max_value, start_range=(2, max_value), max_operand=max_operand,
                      any_templates=True)
        ex = make_problem(rng, shape, idx, split)
        worked = " ".join(f"{s['before']} {SYMBOL[s['op']]} {s['operand']} = {s['after']}." for s in ex.meta["steps"])
        return Example(idx, ex.question, ex.answer, "number", split,
                       {"skill": skill, "steps": ex.meta["steps"], "worked": worked})
    if skill == "parse":
        # reading without computing: list a story's 1..parse_steps changes in order ("+ 5, - 2"). The
        # student knows how to find the i-th change; distillation must teach it to compute the chain.
        shape = Shape(steps=(1, parse_steps), max_value=max_value, start_range=(2, max_value),
                      max_operand=max_operand)
        ex = make_problem(rng, shape, idx, split)
        story = ex.question.rsplit(". ", 1)[0] + "."  # the story without its question
        changes = ", ".join(f"{SYMBOL[s['op']]} {s['operand']}" for s in ex.meta["steps"])
        return Example(idx, f"{story} What changes happen to {ex.meta['name']}'s {ex.meta['object']}, in order?",
                       changes, "text", split, {"skill": skill, "start": ex.meta["start"], "steps": ex.meta["steps"]})
    if skill == "compare":
        a, b = rng.sample(range(1, max_value + 1), 2)
        rel = rng.choice(["more", "less"])
        yes = a > b if rel == "more" else a < b
        return Example(idx, f"Is {a} {rel} than {b}?", "yes" if yes else "no", "yesno", split,
                       {"skill": skill, "a": a, "b": b, "rel": rel})
    if skill == "coin":
        people = rng.sample([n for n, _ in NAMES], rng.randint(1, 4))
        flips = [rng.random() < 0.5 for _ in people]
        story = " ".join(f"{p} flips the coin." if f else f"{p} does not flip the coin." for p, f in zip(people, flips))
        heads = sum(flips) % 2 == 0
        return Example(idx, f"A coin is heads up. {story} Is the coin still heads up?", "yes" if heads else "no",
                       "yesno", split, {"skill": skill, "flips": flips})
    raise ValueError(f"unknown general skill {skill!r}; allowed: {SKILLS}")


def generate_world(p: WorldParams) -> dict[str, list[Example]]:
    """All splits of the world, deterministic in ``p`` (same params -> same questions)."""
    shapes = split_shapes(p)
    splits: dict[str, list[Example]] = {}

    # ID: test first, then feedback and train exclude its computations (and each other's).
    taken: set = set()
    for split, n in (("test_id", p.n_test), ("feedback", p.n_feedback), ("train", p.n_train)):
        rng = stable_rng(p.seed, split)
        splits[split] = _unique(lambda i, s=split, r=rng: make_problem(r, shapes["id"], f"{s}-{i}", s),
                                n, computation_key, taken, split)
        splits[split] = _renumber(splits[split], split)
    for split in SPLITS_OOD:
        rng = stable_rng(p.seed, split)
        seen: set = set()
        exs = _unique(lambda i, s=split, r=rng: make_problem(r, shapes[s], f"{s}-{i}", s), p.n_test,
                      lambda e: e.question, seen, split)
        splits[split] = _renumber(exs, split)

    # General suite: what the student *knew* before distillation. Test questions are distinct from each
    # other and drawn from the same facts as training (forgetting is about retained knowledge, not
    # generalisation to unseen facts); training draws repeat facts.
    general_test, general_train = [], []
    # Parse stories never retell a test problem (same start and changes; ID or OOD-numbers, whose amounts
    # the general suite covers), in either general split.
    test_keys = {computation_key(e) for split in ("test_id", "ood_numbers", "ood_steps") for e in splits[split]}

    def retells_test(e: Example) -> bool:
        return e.meta["skill"] == "parse" and computation_key(e) in test_keys

    for skill in SKILLS:
        rng = stable_rng(p.seed, "general_test", skill)
        general_test += _unique(lambda i, sk=skill, r=rng: make_general(r, sk, "", "general_test", p.ood_max_value,
                                                                        p.max_operand, p.parse_max),
                                p.n_general_test, lambda e: "test" if retells_test(e) else e.question, {"test"},
                                f"general {skill}")
        rng = stable_rng(p.seed, "general_train", skill)
        draws = (make_general(rng, skill, "", "general_train", p.ood_max_value, p.max_operand,
                                     p.parse_max)
                 for _ in itertools.count())
        general_train += list(itertools.islice((e for e in draws if not retells_test(e)), p.n_general_train))
    splits["general_test"] = _renumber(general_test, "general_test")
    splits["general_train"] = _renumber(general_train, "general_train")
    return splits


def _renumber(examples: list[Example], split: str) -> list[Example]:
    """Dense ids (``train-0``, ``train-1``, ...) in draw order."""
    return [Example(f"{split}-{j}", e.question, e.answer, e.kind, e.split, e.meta) for j, e in enumerate(examples)]


ALL_SPLITS = SPLITS_ID + SPLITS_OOD + SPLITS_GENERAL


def save_world(splits: dict[str, list[Example]], folder) -> dict[str, int]:
    """Write one ``<split>.jsonl`` per split and the manifest (row counts and the world's fingerprint,
    ``write_manifest``); returns the row counts."""
    folder = Path(folder)
    counts = {}
    for split, exs in splits.items():
        save_examples(folder / f"{split}.jsonl", exs)
        counts[split] = len(exs)
    write_manifest(folder, counts)
    return counts


def load_split(folder, split: str) -> list[Example]:
    """Read one split written by the data stage (``save_world`` or ``save_public_data``); a missing file
    says which stage makes it."""
    path = Path(folder) / f"{split}.jsonl"
    if split not in ALL_SPLITS and not path.exists():  # public data adds one split per benchmark
        present = sorted(p.stem for p in Path(folder).glob("*.jsonl"))
        raise ValueError(f"unknown split {split!r}; the world's: {', '.join(ALL_SPLITS)}; "
                         f"in {folder}: {', '.join(present) or 'none'}")
    if not path.exists():
        raise FileNotFoundError(f"{path}: missing; run the 'world' stage first (dvc repro world, or mind world)")
    return load_examples(path)
