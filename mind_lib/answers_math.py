"""Equivalence of LaTeX answers (answer kind ``math``, e.g. MATH500): ``math_equal(pred, gold)``.

Two backends, chosen per call (``backend=None``: the first available):

- ``"math_verify"``: Hugging Face's maintained ``math-verify`` (the optional extra ``real`` of
  pyproject.toml, ``math-verify[antlr4_9_3]``: the antlr4 runtime that requirements.lock pins).
  Imported only here and only when a ``math`` answer is compared. Its timeouts use
  ``signal.alarm``, which only the main thread may set, so elsewhere they are off.
- ``"sympy"``: the fallback. ``sympy.parsing.latex`` needs antlr4 4.11 (the lock pins 4.9.3),
  so common LaTeX is rewritten here (``normalise_latex``: ``\\frac``, ``\\dfrac``, ``\\sqrt``,
  ``\\pi``, ``^``, ``\\left( \\right)``, ``\\text{}``, ``\\%``, ``\\$``, ``\\,``, degrees, "x = "),
  then compared: equal strings, else tuples and intervals element by element (their brackets
  must agree; a list without brackets, "3, 5, 7", or a set, "\\{3, 5, 7\\}", is a set of
  solutions: any order), else each element with ``sympy.simplify(a - b) == 0`` (decimals taken
  as exact rationals, so "0.33" is not 1/3). What sympy cannot read (matrices, "52_8") counts
  as equal only as a string.

With either backend a word answer ("\\text{Evelyn}") equals only the same word (any case).

Only a whitelisted vocabulary reaches sympy's parser (which evaluates Python): digits, single
letters, a few function names and operators, exponents no larger than three digits, numbers no
longer than ``MAX_ANSWER_DIGITS`` (longer ones are skipped and counted as in ``mind_lib.answers``).
"""
from __future__ import annotations

import importlib.util
import re
import threading

from mind_lib.answers import MAX_ANSWER_DIGITS, skip_too_long

BACKENDS = ("math_verify", "sympy")
MATH_VERIFY_TIMEOUT_S = 5

# (pattern, replacement) applied in order; \frac and \sqrt are rewritten by ``_commands`` after.
_REWRITES = [
    (r"\\(?:text|textbf|textit|mathrm|mathbf|mbox|operatorname)\s*\{([^{}]*)\}", r"\1"),
    (r"\^\s*\{?\s*\\circ\s*\}?|\\degree|\u00b0", ""),  # degrees
    (r"\\%|%|\\\$|\$|\\displaystyle|\\left\.?|\\right\.?|\\[!,;:> ]|\\q?quad|~", ""),
    (r"\\[dt]frac", r"\\frac"),
    (r"\\(?:cdot|times)", "*"),
    (r"\\div", "/"),
    (r"\\pi(?![A-Za-z])", "pi"),
    (r"\\infty(?![A-Za-z])", "oo"),
    (r"\\ln(?![A-Za-z])", "log"),
    (r"\\(sin|cos|tan|log|exp)(?![A-Za-z])", r"\1"),
    (r"\\\{", "{"),
    (r"\\\}", "}"),
]
_REWRITES = [(re.compile(p), r) for p, r in _REWRITES]
_SET = re.compile(r"\\\{(.*)\\\}", re.DOTALL)  # "\{1, 2\}": a set, compared as a bare list (any order)
_THOUSANDS = re.compile(r"-?\d{1,3}(?:,\d{3})+(?:\.\d+)?")
_LHS = re.compile(r"^[A-Za-z]\w*=(?!=)")  # "x=5" -> "5"
_DIGIT_RUN = re.compile(r"\d{%d,}" % (MAX_ANSWER_DIGITS + 1))
_SYMPY_SAFE = re.compile(r"[\w+\-*/().,]*")
_NAME = re.compile(r"[A-Za-z_]\w*")
_WORD = re.compile(r"\(?[A-Za-z]{2,}\)?")
_FUNCTIONS = {"sqrt", "root", "pi", "oo", "I", "sin", "cos", "tan", "log", "exp"}
# An exponent sympy computes quickly: a number of up to three digits, a letter, or a small ratio.
_POWER = re.compile(r"\*\*(\(?-?(?:\d{1,3}|[A-Za-z]|\d{1,3}/\d{1,3})\)?)(?!\*\*)")


def _arg(s: str, i: int) -> tuple[str, int]:
    """One LaTeX argument starting at ``s[i]``: a ``{...}`` group (its content) or one character."""
    while i < len(s) and s[i] == " ":
        i += 1
    if i >= len(s):
        return "", i
    if s[i] != "{":
        return s[i], i + 1
    depth = 0
    for j in range(i, len(s)):
        depth += {"{": 1, "}": -1}.get(s[j], 0)
        if depth == 0:
            return s[i + 1:j], j + 1
    return s[i + 1:], len(s)


def _commands(s: str) -> str:
    """``\\frac{a}{b}`` -> "(a)/(b)", ``\\sqrt[n]{x}`` -> "root(x,n)", ``\\sqrt2`` -> "sqrt(2)"."""
    out, i = [], 0
    while i < len(s):
        if s.startswith("\\frac", i):
            num, i = _arg(s, i + 5)
            den, i = _arg(s, i)
            # A digit before a numeric fraction makes a mixed number: 1\frac{1}{2} = 3/2.
            plus = "+" if out and out[-1][-1:].isdigit() and (num + den).isdigit() else ""
            out.append(f"{plus}({_commands(num)})/({_commands(den)})")
        elif s.startswith("\\sqrt", i):
            i += 5
            index = None
            if i < len(s) and s[i] == "[":
                close = s.find("]", i)
                index, i = s[i + 1:close], close + 1
            body, i = _arg(s, i)
            out.append(f"root({_commands(body)},{index})" if index else f"sqrt({_commands(body)})")
        else:
            out.append(s[i])
            i += 1
    return "".join(out)


def normalise_latex(s: str) -> str:
    """A LaTeX answer as plain math text: "\\left( 3, \\frac{\\pi}{2} \\right)" -> "(3,(pi)/(2))"."""
    s = s.strip()
    if m := _SET.fullmatch(s):
        s = m.group(1)
    for pattern, replacement in _REWRITES:
        s = pattern.sub(replacement, s)
    s = _commands(s)
    s = "".join(s.split()).replace("^", "**").replace("{", "(").replace("}", ")").rstrip(".")
    if _THOUSANDS.fullmatch(s):
        s = s.replace(",", "")
    return _LHS.sub("", s, count=1)


def _split_top(s: str) -> list[str]:
    """``s`` split at the commas outside brackets."""
    parts, depth, start = [], 0, 0
    for i, c in enumerate(s):
        depth += (c in "([") - (c in ")]")
        if c == "," and depth == 0:
            parts.append(s[start:i])
            start = i + 1
    return parts + [s[start:]]


def _encloses(s: str) -> bool:
    """True when the bracket opening ``s`` closes at its last character."""
    depth = 0
    for i, c in enumerate(s):
        depth += (c in "([") - (c in ")]")
        if depth == 0:
            return i == len(s) - 1
    return False


def _structure(s: str) -> tuple[str, list[str]]:
    """("()"/"[)"/... for a bracketed tuple or interval, "" for a bare list, "1" for one value; items)."""
    if len(s) >= 2 and s[0] in "([" and s[-1] in ")]" and _encloses(s):
        items = _split_top(s[1:-1])
        if len(items) > 1:
            return s[0] + s[-1], items
    items = _split_top(s)
    return ("", items) if len(items) > 1 else ("1", [s])


def _to_sympy(s: str):
    """The sympy expression of a normalised answer, or None when it is not safe or not readable."""
    if not s or len(s) > 300 or "__" in s or not _SYMPY_SAFE.fullmatch(s):
        return None
    if any(len(n) > 1 and n not in _FUNCTIONS for n in _NAME.findall(s)):
        return None  # words ("Evelyn") would become products of letters
    if s.count("**") != len(_POWER.findall(s)):
        return None  # "9**9**9" never finishes
    from string import ascii_letters

    from sympy import I, Symbol
    from sympy.parsing.sympy_parser import (convert_xor, implicit_multiplication, parse_expr, rationalize,
                                            standard_transformations)

    try:
        # Letters are unknowns (not sympy's S, N, E, O...), except i, the imaginary unit of MATH answers.
        letters = {c: Symbol(c) for c in ascii_letters} | {"i": I}
        return parse_expr(s, local_dict=letters, evaluate=True,
                          transformations=standard_transformations + (implicit_multiplication, convert_xor,
                                                                      rationalize))
    except Exception:  # noqa: BLE001 - sympy raises many kinds (SyntaxError, TypeError, TokenError...)
        return None


def _value_equal(a: str, b: str) -> bool:
    if a == b:
        return True
    x, y = _to_sympy(a), _to_sympy(b)
    if x is None or y is None:
        return False
    import sympy

    try:
        return bool(sympy.simplify(x - y) == 0)
    except Exception:  # noqa: BLE001 - e.g. a tuple minus a number
        return False


def _sympy_equal(a: str, b: str) -> bool:
    """``a`` and ``b`` normalised (``normalise_latex``)."""
    if a == b:
        return True
    (shape_a, items_a), (shape_b, items_b) = _structure(a), _structure(b)
    if shape_a != shape_b or len(items_a) != len(items_b):
        return False
    if shape_a == "":
        return _same_set(items_a, items_b)
    return all(_value_equal(x, y) for x, y in zip(items_a, items_b))


def _same_set(items_a: list[str], items_b: list[str]) -> bool:
    """Each item of ``items_a`` equals a different item of ``items_b`` (lists of solutions)."""
    left = list(items_b)
    for x in items_a:
        match = next((k for k, y in enumerate(left) if _value_equal(x, y)), None)
        if match is None:
            return False
        left.pop(match)
    return True


def _math_verify_equal(pred: str, gold: str) -> bool:
    from math_verify import parse, verify

    timeout = MATH_VERIFY_TIMEOUT_S if threading.current_thread() is threading.main_thread() else None
    parsed_gold = parse(f"${gold}$", parsing_timeout=timeout)
    parsed_pred = parse(f"${pred}$", parsing_timeout=timeout)
    if not parsed_gold or not parsed_pred:
        return normalise_latex(pred) == normalise_latex(gold)  # nothing it could read: as strings
    return bool(verify(parsed_gold, parsed_pred, timeout_seconds=timeout))


def _is_word(s: str) -> bool:
    return bool(_WORD.fullmatch(s)) and s.strip("()") not in _FUNCTIONS


def have_math_verify() -> bool:
    return importlib.util.find_spec("math_verify") is not None


def math_equal(pred: str | None, gold: str, backend: str | None = None) -> bool:
    """True when the LaTeX answers ``pred`` and ``gold`` state the same value (see the module docstring)."""
    if pred is None:
        return False
    for text in (pred, gold):
        if run := _DIGIT_RUN.search(text):
            skip_too_long(len(run.group(0)), text)
            return False
    backend = backend or ("math_verify" if have_math_verify() else "sympy")
    if backend not in BACKENDS:
        raise ValueError(f"unknown math backend {backend!r}; allowed: {', '.join(BACKENDS)}")
    a, b = normalise_latex(pred), normalise_latex(gold)
    if _is_word(a) or _is_word(b):
        # A word (MATH500's "\text{Evelyn}") is a word: math-verify would read it as the product
        # E*v*e*l*y*n, equal to any of its anagrams.
        return a.casefold() == b.casefold()
    if backend == "math_verify":
        return _math_verify_equal(pred, gold)
    return _sympy_equal(a, b)
