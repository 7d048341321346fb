"""Answer extraction and comparison.

``extract_answer(text, kind)`` returns the canonical answer a rationale commits to, or None when
the text states no answer: it never guesses from the working unless asked to
(``fallback_last_number=True``). The answer statement is the LAST of

- ``#### X`` (GSM8K),
- ``... answer is X`` / ``answer: X`` / ``answer = X``, with an optional parenthesis in between
  (Zero-shot-CoT's "Therefore, the answer (arabic numerals) is X"),
- ``\\boxed{X}``.

X is read from the rest of that line (the next line when the marker ends its line).
Canonical forms, per ``kind``:

- ``number``: no thousands separators, no trailing zeros ("1234", "-3", "2.5"). Currency signs,
  units, trailing periods and markdown are ignored; digits split by a word-level tokenizer are
  joined ("8 4" -> "84", "1 2 . 5" -> "12.5"); of an equation the result counts
  ("the answer is x = 10 - 4 = 6" -> "6"); "a/b" becomes its decimal value when that is exact.
- ``yesno``: "yes" / "no" (true/false map to yes/no): the first such word after the marker.
- ``choice``: a letter "A".."F" written "(B)", "B)", "B", "b", "option B", "a bank (C)"...; an
  "a"/"A" followed by a word ("the answer is a bank") is an article, not a choice.
- ``text``: the phrase after the marker up to the end of the sentence, without quotes or
  markdown, spaces collapsed (e.g. Last Letter Concatenation's "yajo").

``answers_match(pred, gold, kind)`` compares canonical forms: numbers by value ("5" == "5.0",
".5" == "0.50", relative tolerance 1e-9), text case- and space-insensitively, the rest exactly.
"""
from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from fractions import Fraction

ANSWER_KINDS: tuple[str, ...] = ("number", "yesno", "choice", "text")
CHOICE_LETTERS = "ABCDEF"

_MARKER = re.compile(
    r"####"
    r"|\banswer\b[^\S\n]*(?:\([^()\n]{0,40}\)[^\S\n]*)?(?:is\b|:|=)"
    r"|\\boxed\{",
    re.IGNORECASE,
)
# A number as printed by people or by a word-level tokenizer: optional sign and currency, digit
# groups joined by single spaces or by thousands commas, an optional decimal part ("." or " . "),
# and an optional "/denominator".
_NUMBER = re.compile(
    r"""(?<![\w.])
    (?P<sign>[-\u2212]\ ?)?(?:[$\u20ac\u00a3\u00a5]\ ?)?(?P<sign2>[-\u2212]\ ?)?
    (?P<int>\d+(?:\ ?,\ ?\d{3}(?!\d)|\ \d+)*)
    (?P<frac>(?:\.|\ \.\ )\d+(?:\ \d+)*)?
    (?:\ ?/\ ?(?P<den>\d+)(?![\d.]))?
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


def canonical_number(value: str | float | int) -> str | None:
    """"5", "5.0", 5.0 -> "5"; "2.50" -> "2.5"; "1,234" -> "1234"; not a number -> None."""
    s = str(value).strip()
    if _THOUSANDS.fullmatch(s):
        s = s.replace(",", "")
    try:
        d = Decimal(s)
    except InvalidOperation:
        return None
    if not d.is_finite():
        return None
    if d == d.to_integral_value():
        return str(int(d))
    return format(d.normalize(), "f")


def _answer_clause(text: str) -> str | None:
    """The line after the last answer marker (the next line when the marker ends its line)."""
    last = None
    for last in _MARKER.finditer(text):
        pass
    if last is None:
        return None
    rest = text[last.end():].lstrip(" \t\r\n:")
    return rest.split("\n", 1)[0].strip()


def _number_value(m: re.Match) -> str | None:
    """Canonical value of one ``_NUMBER`` match."""
    digits = re.sub(r"[ ,]", "", m["int"]) + re.sub(r" ", "", m["frac"] or "")
    negative = bool(m["sign"]) != bool(m["sign2"])
    value = canonical_number(("-" if negative else "") + digits)
    if value is None or not m["den"]:
        return value
    if int(m["den"]) == 0:
        return None
    frac = Fraction(value) / int(m["den"])
    den = frac.denominator
    for p in (2, 5):
        while den % p == 0:
            den //= p
    # Only fractions with an exact decimal value (1/2, 3/8) are answers we can state.
    return canonical_number(Decimal(frac.numerator) / Decimal(frac.denominator)) if den == 1 else None


def _first_number(clause: str) -> str | None:
    """The first number of the clause; in "x = 10 - 4 = 6" the result of the equation."""
    variable = _VARIABLE.match(clause)
    pos = variable.end() if variable else 0
    while m := _NUMBER.search(clause, pos):
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


_READERS = {"number": _first_number, "yesno": _yesno, "choice": _choice, "text": _text}


def extract_answer(text: str | None, kind: str = "number", fallback_last_number: bool = False) -> str | None:
    """The canonical answer that ``text`` states (see the module docstring), or None.

    ``fallback_last_number`` (number only, off by default): when the text has no answer marker,
    take the last number in it. That is a guess (it scores "... = 21, so 3 games" as 21), so it
    is meant for sources known to end on the answer without stating it.
    """
    if kind not in _READERS:
        raise ValueError(f"unknown answer kind {kind!r}; allowed: {', '.join(ANSWER_KINDS)}")
    text = text or ""
    clause = _answer_clause(text)
    if clause is None:
        return _last_number(text) if fallback_last_number and kind == "number" else None
    return _READERS[kind](clause)


def _text_key(s: str) -> str:
    return "".join(s.split()).casefold()


def answers_match(pred: str | None, gold: str, kind: str = "number") -> bool:
    """True when ``pred`` states ``gold``; numbers compare by value ("5" == "5.0" == "5.00")."""
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
    raise ValueError(f"unknown answer kind {kind!r}; allowed: {', '.join(ANSWER_KINDS)}")
