"""Few-shot chain-of-thought prompts for model teachers (local HF models and HTTP endpoints).

Why few-shot: a teacher's rationale is only usable when it ends with the line the answer extractor
reads ("The answer is X.", see ``mind_lib.answers``). Two or three worked exemplars per answer kind
show both the step-by-step style and that closing line, so small base models and chat models alike
produce parseable rationales (Wei et al. 2022; Ho et al. 2023, Fine-tune-CoT).

Two renderings share the same instruction and exemplars:

- ``build_prompt``: one plain text ending in ``"A:"`` for base LMs without a chat template;
- ``build_messages``: system (instruction + worked examples) + user (the question) for chat models.

Paradigm prompts (the MIND paper's eight reasoning paradigms, ``mind_lib.styles.PARADIGMS``): the same
exemplars and closing line, with the step-by-step lead replaced by the paradigm's instruction
(``PARADIGM_INSTRUCTIONS``, our wording of the paper's one-line descriptions). ``prompt_version`` names the
prompt in a teacher's provenance, with a hash of the paradigm's text, so editing it marks its rows stale.

``trim_rationale`` cuts what a model writes after its answer line (a plain LM tends to go on with
a new "Q:"), so stored rationales stop where the extractor looks.
"""
from __future__ import annotations

import hashlib
import re

from mind_lib.formatting import ANSWER_PREFIX, answer_text
from mind_lib.styles import PARADIGMS, per_paradigm
from mind_lib.tasks.base import KINDS, Example

PROMPT_VERSION = "fewshot-cot-1"
"""Recorded in every model teacher's provenance; bump it when exemplars or wording change."""

# (question, rationale) pairs; every rationale ends with the line extract_answer reads.
EXEMPLARS: dict[str, tuple[tuple[str, str], ...]] = {
    "number": (
        ("Tom has 3 boxes with 4 apples in each box. He eats 2 apples. How many apples are left?",
         "The 3 boxes hold 3 * 4 = 12 apples. After he eats 2, 12 - 2 = 10 apples are left. "
         "The answer is 10."),
        ("A pencil costs 5 dollars and a notebook costs 3 dollars more than the pencil. "
         "How much do the pencil and the notebook cost together?",
         "The notebook costs 5 + 3 = 8 dollars. Together they cost 5 + 8 = 13 dollars. The answer is 13."),
        ("Mia had 20 stickers. She gave half of them to her brother and then bought 6 more. "
         "How many stickers does she have now?",
         "Half of 20 is 20 / 2 = 10, so she kept 10 stickers. After buying 6 more she has 10 + 6 = 16. "
         "The answer is 16."),
    ),
    "yesno": (
        ("Can a dog fit inside a standard matchbox?",
         "A standard matchbox is about 5 cm long. Even the smallest dogs are much longer than that. "
         "The answer is no."),
        ("Is 17 a prime number?",
         "A divisor of 17 other than 1 would have to be at most 4. 17 is not divisible by 2, 3 or 4, "
         "so its only divisors are 1 and 17. The answer is yes."),
    ),
    "choice": (
        ("Which of these animals is a mammal?\nAnswer Choices: (A) shark (B) dolphin (C) trout (D) octopus",
         "Sharks and trout are fish and an octopus is a mollusc. Dolphins breathe air and feed their "
         "young with milk, so they are mammals. The answer is B."),
        ("A train travels 60 km in 1.5 hours. What is its average speed?\n"
         "Answer Choices: (A) 30 km/h (B) 90 km/h (C) 40 km/h (D) 45 km/h",
         "Average speed is distance divided by time: 60 / 1.5 = 40 km/h, which is choice C. "
         "The answer is C."),
    ),
    "text": (
        ('Take the last letters of each word in "Elon Musk" and concatenate them.',
         'The last letter of "Elon" is "n". The last letter of "Musk" is "k". Concatenating them gives "nk". '
         "The answer is nk."),
        ('Take the last letters of each word in "Larry Page Ada" and concatenate them.',
         'The last letters are "y", "e" and "a". Concatenating them gives "yea". The answer is yea.'),
    ),
    "math": (
        ("If $f(x) = \\frac{3x-2}{x-2}$, what is the value of $f(0) + f(1)$?",
         "$f(0) = \\frac{-2}{-2} = 1$ and $f(1) = \\frac{1}{-1} = -1$, so $f(0) + f(1) = 0$. "
         "The answer is $0$."),
        ("What is the length of the diagonal of a square with side $3$?",
         "By Pythagoras the diagonal is $\\sqrt{3^2 + 3^2} = \\sqrt{18} = 3\\sqrt{2}$. "
         "The answer is $3\\sqrt{2}$."),
    ),
}

ANSWER_FORMAT: dict[str, str] = {
    "number": "a number",
    "yesno": "yes or no",
    "choice": "the letter of the correct choice",
    "text": "the answer text itself",
    "math": "the final answer in LaTeX between dollar signs",
}


# The one owner of each paradigm's instruction (ours, after the descriptions in the MIND paper's data section).
PARADIGM_INSTRUCTIONS: dict[str, str] = per_paradigm({
    "formal": "Reason formally: give each quantity a symbol, state every relation as an equation and derive the "
              "result by substitution, one line per step, with no step left to intuition.",
    "intuitive": "Reason intuitively, as a person would explain it in everyday words: follow what happens to the "
                 "things in the problem, use common-sense rules of thumb and keep notation to a minimum.",
    "decomposition": "Break the problem into numbered sub-problems, solve them one at a time in order, each using "
                     "the results before it, and then combine their results.",
    "planning": "First write a short plan listing the steps you will take, in order. Then carry out the plan one "
                "step at a time, saying which step of the plan you are on.",
    "analogy": "Find a simpler, familiar problem with the same structure (a counter that goes up and down, coins "
               "in a purse), say how the parts of this problem map onto it, solve that one and map its result back.",
    "socratic": "Reason by asking yourself questions: pose one question about what you need to know next, answer "
                "it, and go on question by question until the answer follows.",
    "contrastive": "Put up two or three candidate answers, tempting wrong ones included, work out the correct "
                   "computation, and say why each wrong candidate fails before you settle on the answer.",
    "counterfactual": "Reason counterfactually: ask what would change if a condition of the problem were different "
                      "or absent, reason backwards from what is asked, find the conditions that decide the answer, "
                      "and then compute it.",
}, "PARADIGM_INSTRUCTIONS")
# The worked examples reason plainly step by step; they are there for the closing line, not the style.
_FORMAT_ONLY = "The worked examples show the format of the final sentence only; reason in the way just described."


def _check_paradigm(paradigm: str) -> None:
    if paradigm not in PARADIGM_INSTRUCTIONS:
        raise ValueError(f"unknown paradigm {paradigm!r}; allowed: {', '.join(PARADIGMS)}")


def instruction(kind: str, paradigm: str | None = None) -> str:
    """The task statement for one answer kind, including the required closing line; with ``paradigm``,
    that paradigm's way of reasoning instead of plain step-by-step."""
    if kind not in KINDS:
        raise ValueError(f"unknown answer kind {kind!r}; allowed: {', '.join(KINDS)}")
    if paradigm is None:
        lead = "Solve the problem step by step, writing out each intermediate result."
    else:
        _check_paradigm(paradigm)
        lead = f"{PARADIGM_INSTRUCTIONS[paradigm]} {_FORMAT_ONLY}"
    return f"{lead} Finish with a final sentence of the form '{answer_text('X')}' where X is {ANSWER_FORMAT[kind]}."


def prompt_version(paradigm: str | None = None) -> str:
    """The prompt's name in a teacher's provenance: ``PROMPT_VERSION``, plus the paradigm and a hash of its
    instruction, so that rows written under an older wording of that paradigm become stale."""
    if paradigm is None:
        return PROMPT_VERSION
    _check_paradigm(paradigm)
    digest = hashlib.sha256(f"{PARADIGM_INSTRUCTIONS[paradigm]}\n{_FORMAT_ONLY}".encode()).hexdigest()[:8]
    return f"{PROMPT_VERSION}/{paradigm}-{digest}"


def _qa(question: str, rationale: str | None = None) -> str:
    return f"Q: {question}\nA:" + (f" {rationale}" if rationale is not None else "")


def _worked_examples(kind: str) -> str:
    return "\n\n".join(_qa(q, r) for q, r in EXEMPLARS[kind])


def build_prompt(example: Example, paradigm: str | None = None) -> str:
    """Plain few-shot prompt for a base LM: instruction, worked examples, then ``Q: ...\\nA:``."""
    return f"{instruction(example.kind, paradigm)}\n\n{_worked_examples(example.kind)}\n\n{_qa(example.question)}"


def build_messages(example: Example, paradigm: str | None = None) -> list[dict[str, str]]:
    """Chat messages: the system turn carries instruction and worked examples, the user turn the question.

    Keeping the exemplars in the system turn leaves the user turn identical to the bare question, so
    endpoints that cache a shared prefix (vLLM/SGLang prefix caching) reuse it across questions.
    """
    system = f"{instruction(example.kind, paradigm)}\n\nWorked examples:\n\n{_worked_examples(example.kind)}"
    return [{"role": "system", "content": system}, {"role": "user", "content": example.question}]


_NEXT_QUESTION = re.compile(r"\n\s*Q:")
# The first closing sentence: up to a period followed by whitespace/end (so "2.5." stays whole),
# else up to the end of its line.
_ANSWER_LINE = re.compile(re.escape(ANSWER_PREFIX) + r"[^\n]*?(?:\.(?=\s|$)|(?=\n)|$)", re.IGNORECASE)


def trim_rationale(text: str) -> str:
    """Cut a generated continuation to the rationale: before any new "Q:", through the first answer line."""
    text = _NEXT_QUESTION.split(text, maxsplit=1)[0]
    m = _ANSWER_LINE.search(text)
    if m:
        text = text[:m.end()]
    return text.strip()
