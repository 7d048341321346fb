"""Answer extraction and comparison.

``extract_answer(text, kind)`` returns the canonical answer a rationale commits to, or None when
the text states no answer: it never guesses from the working unless asked to
(``fallback_last_number=True``). The answer statement is the LAST of

- ``#### X`` (GSM8K),
- ``... answer is X`` / ``answer: X`` / ``answer = X``, with an optional parenthesis in between
  (Zero-shot-CoT's "Therefore, the answer (arabic numerals) is X"),
- ``\\boxed{X}``.

X is the content of the box, nested braces included (``\\boxed{\\frac{\\sqrt{3}}{2}}``); after
the other markers it is read from the rest of that line (the next line when the marker ends its
line). Canonical forms, per ``kind``:

- ``number``: no thousands separators, no trailing zeros, no exponent ("1234", "-3", "2.5",
  "100000" for "1e5"). Currency signs, units, trailing periods and markdown are ignored; digits
  split by a word-level tokenizer are joined ("8 4" -> "84", "1 2 . 5" -> "12.5"); of an equation
  the result counts ("the answer is x = 10 - 4 = 6" -> "6"); "a/b" and LaTeX ``\\frac{a}{b}``
  (``\\dfrac``, ``\\tfrac``, ``\\frac12``) become their decimal value when that is exact; a whole
  number before a fraction written without spaces around its slash is a mixed number ("1 1/2" ->
  "1.5"; a tokenizer writes "1 1 / 2"). A number inside LaTeX that is not a plain fraction
  (``\\sqrt{3}``, ``\\pi``) is no number answer: None.
- ``math``: the LaTeX of the answer as written, inside ``\\boxed{}`` or after "answer is" (without
  ``$...$``/``\\(...\\)`` delimiters and a closing period), e.g. "\\frac{\\sqrt{3}}{2}"; MATH500.
  Here the last box wins over a later marker: solutions box their answer and may go on to check
  it ("... so our answer is correct").
- ``yesno``: "yes" / "no" (true/false map to yes/no): the first such word after the marker.
- ``choice``: a letter "A".."F" written "(B)", "B)", "B", "b", "option B", "a bank (C)"...; an
  "a"/"A" followed by a word ("the answer is a bank") is an article, not a choice.
- ``text``: the phrase after the marker up to the end of the sentence, without quotes or
  markdown, spaces collapsed (e.g. Last Letter Concatenation's "yajo").

``answers_match(pred, gold, kind)`` compares canonical forms: numbers by value ("5" == "5.0",
".5" == "0.50", relative tolerance 1e-9), text case- and space-insensitively, ``math`` by
mathematical equivalence (``mind_lib.answers_math``: math-verify when installed, else sympy), the
rest exactly.

Degenerate outputs: a number with more than ``MAX_ANSWER_DIGITS`` digits (a model that repeats a
digit until its token budget ends) is no answer. Python refuses to convert such strings to ``int``
(ValueError "Exceeds the limit (4300 digits) for integer string conversion"), which would abort a
whole batch; instead the answer is None, a warning is logged and ``SKIPPED_ANSWERS["too_long"]``
counts it (a module-level ``collections.Counter``: read it before and after a batch, or ``clear()``
it, to know how many predictions were skipped).
"""
from __future__ import annotations

import logging
import re
from collections import Counter
from decimal import Decimal, InvalidOperation
from fractions import Fraction

ANSWER_KINDS: tuple[str, ...] = ("number", "yesno", "choice", "text", "math")
CHOICE_LETTERS = "ABCDEF"
MAX_ANSWER_DIGITS = 1000
"""Longest number read as an answer: far above any benchmark's, below Python's int-string limit (4300)."""
SKIPPED_ANSWERS: Counter[str] = Counter()
"""Answers skipped instead of read, by reason ("too_long"); see the module docstring."""

log = logging.getLogger(__name__)

_MARKER = re.compile(
    r"####"
    r"|\banswer\b[^\S\n]*(?:\([^()\n]{0,40}\)[^\S\n]*)?(?:is\b|:|=)"
    r"|\\boxed\{",
    re.IGNORECASE,
)
# A number as printed by people or by a word-level tokenizer: optional sign and currency, digit
# groups joined by single spaces or by thousands commas, an optional decimal part ("." or " . ")
# or a bare one (".5"), an optional exponent ("1e5") and an optional "/denominator" (the slash
# is kept: without spaces around it, "1 1/2" is a mixed number).
_NUMBER = re.compile(
    r"""(?<![\w.])
    (?P<sign>[-\u2212]\ ?)?(?:[$\u20ac\u00a3\u00a5]\ ?)?(?P<sign2>[-\u2212]\ ?)?
    (?:(?P<int>\d+(?:\ ?,\ ?\d{3}(?!\d)|\ \d+)*)(?P<frac>(?:\.|\ \.\ )\d+(?:\ \d+)*)?
     |(?P<bare>\.\d+))
    (?P<exp>[eE][-+]?\d+)?
    (?:(?P<slash>\ ?/\ ?)(?P<den>\d+)(?![\d.]))?
    """,
    re.VERBOSE,
)
_EQUATION_TAIL = re.compile(r"[-+*/x\u00d7\u00f7^()$\d\s.,]*=\s*")  # "+ (24 - 5) = " after a number
_VARIABLE = re.compile(r"[A-Za-z]\w*\s*=\s*")
_THOUSANDS = re.compile(r"-?\d{1,3}(?:,\d{3})+(?:\.\d+)?")
_SENTENCE_END = re.compile(r"[.!?](?:\s|$)")
_YESNO = re.compile(r"\b(yes|no|true|false)\b", re.IGNORECASE)
_PAREN_LETTER = re.compile(rf"\(([{CHOICE_LETTERS}])\)", re.IGNORECASE)
_LEAD_LETTER = re.compile(
    rf"(?:option|choice)?\s*\(?([{CHOICE_LETTERS}])(?=\s*$|[).:,\]]|\s+[(\-\u2013\u2014:])"
    rf"|(?-i:([{CHOICE_LETTERS[1:]}]))\s",
    re.IGNORECASE,
)
_DECORATION = "*`\"'\u201c\u201d\u2018\u2019"
_DIGIT_RUN = re.compile(r"\d{%d,}" % (MAX_ANSWER_DIGITS + 1))

# LaTeX in a number answer ("\boxed{\dfrac{1}{2}}", "$10,\!000$", "5\text{ cm}"): plain fractions
# become "a/b", markup that does not change the value goes.
_LATEX_FRAC = re.compile(
    r"\\[dt]?frac\s*(?:\{\s*(?P<num>[-\u2212]?\d+)\s*\}|(?P<num1>\d))\s*(?:\{\s*(?P<den>\d+)\s*\}|(?P<den1>\d))")
_LATEX_PLAIN = [
    (re.compile(r"(\d)\s*(?=\\[dt]?frac)"), r"\1 "),  # "1\frac{1}{2}": a mixed number
    (re.compile(r"\\(?:text|textbf|textit|mathrm|mathbf|mbox|operatorname)\s*\{([^{}]*)\}"), r" \1"),
    (re.compile(r"\^\s*\{?\s*\\circ\s*\}?"), ""),
    (re.compile(r"\\left|\\right|\\!|\\,|\\;|\\displaystyle"), ""),
    (re.compile(r"\{,\}"), ","),
    (re.compile(r"\\%"), "%"),
    (re.compile(r"\\\$"), "$"),
    (re.compile(r"\\times"), "\u00d7"),
    (re.compile(r"\\cdot"), "*"),
    (re.compile(r"\\div"), "\u00f7"),
]
_LATEX_COMMAND = re.compile(r"\\[A-Za-z]")


def skip_too_long(n_digits: int, s: str) -> None:
    """Count and log an answer skipped for its length (see the module docstring)."""
    SKIPPED_ANSWERS["too_long"] += 1
    log.warning("answer skipped: a number of %d digits (more than MAX_ANSWER_DIGITS=%d): %.40s...",
                n_digits, MAX_ANSWER_DIGITS, s)


def _too_long(s: str) -> bool:
    """True (skipped: logged and counted) when ``s`` holds more than ``MAX_ANSWER_DIGITS`` digits."""
    n = sum(c.isdigit() for c in s)
    if n > MAX_ANSWER_DIGITS:
        skip_too_long(n, s)
        return True
    return False


def _decimal_text(d: Decimal) -> str:
    """Exact fixed-point text without trailing zeros ("2.50" -> "2.5", "1E+5" -> "100000")."""
    # format(.., "f") is exact; Decimal.normalize() and int() would round or hit the int-string limit.
    text = format(d, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def canonical_number(value: str | float | int) -> str | None:
    """"5", "5.0", 5.0 -> "5"; "2.50" -> "2.5"; "1,234" -> "1234"; "1e5" -> "100000"; not a number
    (or one longer than ``MAX_ANSWER_DIGITS``) -> None."""
    s = str(value).strip()
    if _THOUSANDS.fullmatch(s):
        s = s.replace(",", "")
    try:
        d = Decimal(s)
    except InvalidOperation:
        return None
    if not d.is_finite():
        return None
    # "1e999999" is short to write but a million digits long to state.
    size = max(len(d.as_tuple().digits), abs(d.adjusted()) + 1)
    if size > MAX_ANSWER_DIGITS:
        return skip_too_long(size, s)
    return _decimal_text(d)


def _boxed_content(text: str, start: int) -> str | None:
    """The text from ``start`` (just after "\\boxed{") to its matching "}"; None if unclosed."""
    depth = 1
    for i in range(start, len(text)):
        if text[i] == "{":
            depth += 1
        elif text[i] == "}":
            depth -= 1
            if depth == 0:
                return text[start:i]
    return None


def _answer_clause(text: str, prefer_box: bool = False) -> tuple[str, bool] | None:
    """(what the last answer marker introduces, whether it is a box): the content of a box, else
    the line after the marker (the next line when the marker ends its line). ``prefer_box``: the
    last box wins over later markers."""
    last = last_box = None
    for last in _MARKER.finditer(text):
        if last.group(0).endswith("{"):
            last_box = last
    if last is None:
        return None
    if prefer_box and last_box is not None:
        last = last_box
    if last.group(0).endswith("{"):
        boxed = _boxed_content(text, last.end())
        if boxed is not None:
            return boxed.strip(), True
        # An unclosed box (a generation cut short) still states what it has written so far.
    rest = text[last.end():].lstrip(" \t\r\n:")
    return rest.split("\n", 1)[0].strip(), False


def _latex_fraction(m: re.Match) -> str:
    return f"{m['num'] or m['num1']}/{m['den'] or m['den1']}"


def _plain_latex(clause: str) -> str:
    """A number answer written in LaTeX as plain text: "\\dfrac{1}{2}" -> "1/2"."""
    if "\\" not in clause and "{" not in clause:
        return clause
    for pattern, replacement in _LATEX_PLAIN:
        clause = pattern.sub(replacement, clause)
    return _LATEX_FRAC.sub(_latex_fraction, clause)


def _mixed_parts(m: re.Match) -> tuple[str, str | None]:
    """(whole part, numerator) of "1 1/2"; (integer part, None) for anything else."""
    whole = m["int"] or ""
    if m["slash"] != "/" or m["frac"] or m["exp"] or " " not in whole.replace(" , ", ""):
        return whole, None
    head, numerator = whole.rsplit(" ", 1)
    # "8 4/2" is no mixed number (a proper fraction follows the whole part): the tokenizer's "84/2".
    if "," in numerator or int(numerator) >= int(m["den"]):
        return whole, None
    return head, numerator


def _number_value(m: re.Match) -> str | None:
    """Canonical value of one ``_NUMBER`` match."""
    if _too_long(m.group(0)):
        return None
    whole, numerator = _mixed_parts(m)
    digits = re.sub(r"[ ,]", "", whole) + re.sub(r" ", "", m["frac"] or m["bare"] or "") + (m["exp"] or "")
    value = canonical_number(digits)
    if value is None:
        return None
    frac = Fraction(value)
    if m["den"]:
        if int(m["den"]) == 0:
            return None
        frac = frac + Fraction(int(numerator), int(m["den"])) if numerator else frac / int(m["den"])
    if bool(m["sign"]) != bool(m["sign2"]):
        frac = -frac
    return _exact_decimal(frac)


def _exact_decimal(frac: Fraction) -> str | None:
    """The decimal text of ``frac`` when it has one (1/2, 3/8), else None (1/3)."""
    den, shift = frac.denominator, 0
    for p in (2, 5):
        while den % p == 0:
            den //= p
            shift += 1
    # Only fractions with an exact decimal value are answers we can state.
    if den != 1:
        return None
    # Decimal from text is exact; Decimal arithmetic (scaleb, /) would round to 28 digits.
    return _decimal_text(Decimal(f"{frac.numerator * 10 ** shift // frac.denominator}e-{shift}"))


def _first_number(clause: str) -> str | None:
    """The first number of the clause; in "x = 10 - 4 = 6" the result of the equation."""
    clause = _plain_latex(clause)
    variable = _VARIABLE.match(clause)
    pos = variable.end() if variable else 0
    while m := _NUMBER.search(clause, pos):
        if _LATEX_COMMAND.search(clause, pos, m.start()):
            return None  # "\sqrt{3}": the 3 is not the answer
        eq = _EQUATION_TAIL.match(clause, m.end())
        if not eq:
            return _number_value(m)
        pos = eq.end()
    return None


def _last_number(text: str) -> str | None:
    last = None
    for last in _NUMBER.finditer(text):
        pass
    return _number_value(last) if last else None


def _sentence(clause: str) -> str:
    m = _SENTENCE_END.search(clause)
    return clause[: m.start()] if m else clause


def _yesno(clause: str) -> str | None:
    m = _YESNO.search(_sentence(clause))
    if not m:
        return None
    return {"yes": "yes", "true": "yes", "no": "no", "false": "no"}[m.group(1).lower()]


def _choice(clause: str) -> str | None:
    clause = clause.replace("*", "").strip(" :\"'`")
    m = _LEAD_LETTER.match(clause) or _PAREN_LETTER.search(clause)
    if not m:
        return None
    return (m.group(1) or m.group(2)).upper()


def _text(clause: str) -> str | None:
    phrase = " ".join(_sentence(clause).split()).strip(_DECORATION + " .,;:!?")
    return phrase or None


_MATH_SENTENCE_END = re.compile(r"(?<!\\)[.!?](?:\s|$)")  # "10,\! 000" goes on: "\!" is a LaTeX space
_MATH_DELIMITED = re.compile(r"\$\$(.+?)\$\$|\$(.+?)\$|\\\((.+?)\\\)|\\\[(.+?)\\\]")


def _math(clause: str, boxed: bool) -> str | None:
    """The LaTeX answer: a box's content as is; after "answer is", the first ``$...$`` (or
    ``\\(...\\)``) when the clause opens with one, else the sentence."""
    expr = clause
    if not boxed:
        m = _MATH_DELIMITED.match(clause.strip(_DECORATION + " "))
        if m:
            expr = next(g for g in m.groups() if g is not None)
        elif end := _MATH_SENTENCE_END.search(clause):
            expr = clause[:end.start()]
    expr = expr.strip(_DECORATION + " $").rstrip(".").strip()
    if not expr:
        return None
    if run := _DIGIT_RUN.search(expr):
        return skip_too_long(len(run.group(0)), expr)
    return expr


_READERS = {"number": _first_number, "yesno": _yesno, "choice": _choice, "text": _text}


def extract_answer(text: str | None, kind: str = "number", fallback_last_number: bool = False) -> str | None:
    """The canonical answer that ``text`` states (see the module docstring), or None.

    ``fallback_last_number`` (number only, off by default): when the text has no answer marker,
    take the last number in it. That is a guess (it scores "... = 21, so 3 games" as 21), so it
    is meant for sources known to end on the answer without stating it.
    """
    if kind not in ANSWER_KINDS:
        raise ValueError(f"unknown answer kind {kind!r}; allowed: {', '.join(ANSWER_KINDS)}")
    text = text or ""
    # MATH-style solutions box their answer and may go on ("so our answer is correct").
    found = _answer_clause(text, prefer_box=kind == "math")
    if found is None:
        return _last_number(text) if fallback_last_number and kind == "number" else None
    clause, boxed = found
    return _math(clause, boxed) if kind == "math" else _READERS[kind](clause)


def _text_key(s: str) -> str:
    return "".join(s.split()).casefold()


def answers_match(pred: str | None, gold: str, kind: str = "number") -> bool:
    """True when ``pred`` states ``gold``; numbers compare by value ("5" == "5.0" == "5.00"),
    ``math`` answers by mathematical equivalence ("\\frac{1}{2}" == "0.5")."""
    if pred is None:
        return False
    if kind == "number":
        a, b = canonical_number(pred), canonical_number(gold)
        if a is None or b is None:
            return False
        da, db = Decimal(a), Decimal(b)
        return da == db or abs(da - db) <= Decimal("1e-9") * max(Decimal(1), abs(db))
    if kind == "text":
        return _text_key(pred) == _text_key(gold)
    if kind in ("yesno", "choice"):
        return pred.strip().lower() == gold.strip().lower()
    if kind == "math":
        from mind_lib.answers_math import math_equal  # sympy / math-verify: only this kind needs them

        return math_equal(pred, gold)
    raise ValueError(f"unknown answer kind {kind!r}; allowed: {', '.join(ANSWER_KINDS)}")
