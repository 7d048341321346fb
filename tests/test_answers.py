"""Answer extraction and comparison: every supported format, and None where no answer is stated."""
import logging

import pytest

from mind_lib import answers
from mind_lib.answers import answers_match, canonical_number, extract_answer
from mind_lib.answers_math import have_math_verify, math_equal, normalise_latex

NUMBER_CASES = [
    # markers
    ("Janet sells 9 eggs.\nShe makes 9 * 2 = $<<9*2=18>>18.\n#### 18", "18"),
    ("The answer is 72", "72"),
    ("Therefore, the answer (arabic numerals) is 42.", "42"),
    ("Answer: 0.5", "0.5"),
    ("The final answer is \\boxed{17}.", "17"),
    ("The answer is:\n\n42", "42"),
    ("First 3 + 4 = 7.\nThe answer is 7.\nWait, 3 + 5 = 8.\nThe answer is 8.", "8"),  # the last statement
    # number formats
    ("#### 1,234", "1234"),
    ("The answer is 1,234,567.5 dollars.", "1234567.5"),
    ("The answer is $5.", "5"),
    ("The answer is 12 apples", "12"),
    ("The answer is 5 cm.", "5"),
    ("The answer is 50%.", "50"),
    ("The answer is 2.50", "2.5"),
    ("The answer is 5.0", "5"),
    ("The answer is -3.", "-3"),
    ("The answer is \u2212 3", "-3"),
    ("The answer is -$5", "-5"),
    ("The answer is $-5", "-5"),
    ("The answer is **18**.", "18"),
    ("The answer is 1/2", "0.5"),
    # mixed numbers: no spaces around the slash (a word-level tokenizer writes "1 1 / 2")
    ("The answer is 1 1/2", "1.5"),
    ("The answer is -2 3/4 cups", "-2.75"),
    ("The answer is 1 1 / 2", "5.5"),
    ("The answer is 8 4/2", "42"),  # not a proper fraction after the whole part: the tokenizer's 84/2
    ("The answer is 1 1/3", None),  # no exact decimal
    # LaTeX fractions
    ("\\boxed{\\frac{1}{2}}", "0.5"),
    ("The final answer is $\\boxed{\\dfrac{3}{4}}$.", "0.75"),
    ("\\boxed{\\tfrac{1}{4}}", "0.25"),
    ("\\boxed{-\\frac{1}{2}}", "-0.5"),
    ("\\boxed{\\frac{-3}{2}}", "-1.5"),
    ("\\boxed{\\frac12}", "0.5"),
    ("The answer is $\\frac{1}{2}$.", "0.5"),
    ("\\boxed{1\\frac{1}{2}}", "1.5"),
    ("\\boxed{\\frac{1}{3}}", None),
    ("\\boxed{\\frac{\\sqrt{3}}{2}}", None),  # a number inside LaTeX that is no plain fraction
    ("\\boxed{2\\pi}", "2"),  # known limit: a number before the LaTeX reads as the answer
    ("\\boxed{10,\\!000}", "10000"),
    ("\\boxed{5\\text{ cm}}", "5"),
    ("\\boxed{90^\\circ}", "90"),
    ("The answer is 3 \\times 4 = 12", "12"),
    # scientific notation and bare decimals
    ("The answer is 1e5", "100000"),
    ("The answer is 2.5e-3", "0.0025"),
    ("The answer is 1E+3.", "1000"),
    ("The answer is .5", "0.5"),
    ("The answer is -.25", "-0.25"),
    ("The answer is 10 - 4 = 6.", "6"),
    ("The answer is x = 6 apples", "6"),
    ("The answer is 3 x 4 = 12 cookies", "12"),
    ("The answer is 5. Check: 2 + 2 = 4", "5"),
    ("The answer is 79 - (24 + 51) = 79 - 75 = 4", "4"),
    # word-level tokenizer output
    ("The answer is 8 4", "84"),
    ("The answer is 1 2 . 5", "12.5"),
    ("The answer is 1 , 234", "1234"),
    # the number stops where the statement does
    ("The answer is 5. 3 people came late.", "5"),
    ("The answer is 5, 6 or 7", "5"),
    # no answer statement, or none that is a number: None, never a guess
    ("She has 5 apples and 7 pears.", None),
    ("", None),
    ("The answer is yes", None),
    ("The answer isn't 5, let me check 6 again", None),
    ("The answer is 1/3", None),  # no exact decimal
    ("Answer Choices: (A) 5 (B) 6", None),
]


@pytest.mark.parametrize("text,expected", NUMBER_CASES)
def test_number(text, expected):
    assert extract_answer(text, "number") == expected


def test_boxed_reads_nested_braces():
    text = "So $x = \\boxed{\\frac{\\sqrt{3}}{2}}$ and we are done."
    assert extract_answer(text, "math") == "\\frac{\\sqrt{3}}{2}"
    point = "\\left( 3, \\frac{\\pi}{2} \\right)"
    assert extract_answer("\\boxed{" + point + "}", "math") == point
    # an unclosed box (a generation cut short): the rest of its line, as before
    assert extract_answer("The answer is \\boxed{17", "number") == "17"


@pytest.mark.parametrize("text,expected", [
    ("The answer is $\\frac{14}{3}$.", "\\frac{14}{3}"),
    ("The answer is \\(3\\sqrt{13}\\)", "3\\sqrt{13}"),
    ("The answer is 3.5.", "3.5"),
    ("The answer is 10,\\! 000. Done!", "10,\\! 000"),
    ("Therefore $\\boxed{11,\\! 111,\\! 100}$. Indeed!", "11,\\! 111,\\! 100"),  # "\\! " ends no sentence in a box
    ("... so \\boxed{44}.\nCheck: 17 * 44 = 748, so our answer is correct.", "44"),  # the box wins
    ("The answer is:", None),
    ("No statement here: 5", None),
])
def test_math_extraction(text, expected):
    assert extract_answer(text, "math") == expected


def test_too_long_number_is_skipped_logged_and_counted(caplog):
    answers.SKIPPED_ANSWERS.clear()
    runaway = "The answer is " + "7" * 5000
    texts = ["The answer is 5", runaway, "The answer is 1e999999", "\\boxed{" + "1" * 5000 + "}", "#### 6"]
    with caplog.at_level(logging.WARNING, logger="mind_lib.answers"):
        got = [extract_answer(t) for t in texts]  # batch use: nothing raises
        math = [extract_answer(t, "math") for t in texts[3:4]]
    assert got == ["5", None, None, None, "6"] and math == [None]
    assert answers.SKIPPED_ANSWERS["too_long"] == 4
    assert sum("answer skipped: a number of 5000 digits" in r.getMessage() for r in caplog.records) == 3
    assert canonical_number("9" * 5000) is None and not answers_match("9" * 5000, "9" * 5000)
    assert extract_answer("The answer is " + "7" * answers.MAX_ANSWER_DIGITS) == "7" * answers.MAX_ANSWER_DIGITS
    answers.SKIPPED_ANSWERS.clear()


def test_last_number_fallback_is_opt_in():
    text = "She has 5 apples and 7 pears, so 12 fruits."
    assert extract_answer(text, "number") is None
    assert extract_answer(text, "number", fallback_last_number=True) == "12"
    # a stated answer wins over the fallback; other kinds ignore it
    assert extract_answer("The answer is 3. Check: 1 + 2 = 3, not 4", "number", fallback_last_number=True) == "3"
    assert extract_answer("yes 5", "yesno", fallback_last_number=True) is None


@pytest.mark.parametrize("text,expected", [
    ("So the answer is yes.", "yes"),
    ("The answer is No", "no"),
    ("The answer (Yes or No) is: no.", "no"),
    ("The answer is true", "yes"),
    ("The answer is False.", "no"),
    ("The answer is definitely yes.", "yes"),
    ("The answer is maybe.", None),
    ("Yes, the coin is still heads up.", None),  # no answer statement
])
def test_yesno(text, expected):
    assert extract_answer(text, "yesno") == expected


@pytest.mark.parametrize("text,expected", [
    ("The answer is (B).", "B"),
    ("The answer is B) bank", "B"),
    ("The answer is B", "B"),
    ("answer is b", "B"),
    ("The answer is C.", "C"),
    ("The answer is option D", "D"),
    ("The answer is: **E**", "E"),
    ("The answer is A (bank)", "A"),
    ("The answer is a bank (C)", "C"),
    ("The answer is F.", "F"),  # Date Understanding has six options
    ("The answer is a bank", None),  # "a" is an article here
    ("I think it is (B).", None),  # no answer statement
])
def test_choice(text, expected):
    assert extract_answer(text, "choice") == expected


@pytest.mark.parametrize("text,expected", [
    ('The answer is "yajo".', "yajo"),
    ("So the answer is yajo", "yajo"),
    ("The answer is **berl**.", "berl"),
    ("The last letters are y, a, j, o.", None),
])
def test_text(text, expected):
    assert extract_answer(text, "text") == expected


def test_unknown_kind():
    with pytest.raises(ValueError, match="allowed: number, yesno, choice, text, math"):
        extract_answer("The answer is 5", "float")
    with pytest.raises(ValueError, match="allowed: number, yesno, choice, text, math"):
        answers_match("5", "5", "float")


@pytest.mark.parametrize("pred,gold,kind,expected", [
    ("5", "5.0", "number", True),
    ("0.50", ".5", "number", True),
    ("1234", "1,234", "number", True),
    ("-0", "0", "number", True),
    ("5", "6", "number", False),
    (None, "5", "number", False),
    ("five", "5", "number", False),
    ("Yes", "yes", "yesno", True),
    ("b", "B", "choice", True),
    ("y a j o", "yajo", "text", True),
    ("YAJO", "yajo", "text", True),
    ("yaj", "yajo", "text", False),
])
def test_answers_match(pred, gold, kind, expected):
    assert answers_match(pred, gold, kind) is expected


# ------------------------------------------------------------------------------------------------
# math answers: the sympy fallback always, math-verify where installed (extra "real")

MATH_BACKENDS = ["sympy", pytest.param("math_verify", marks=pytest.mark.skipif(
    not have_math_verify(), reason="math-verify not installed (pip install -e '.[real]')"))]
MATH_CASES = [
    ("\\frac{1}{2}", "0.5", True),
    ("0.5", "\\dfrac{1}{2}", True),
    ("\\sqrt{2}/2", "\\frac{\\sqrt2}{2}", True),
    ("(1, 2)", "(1,2)", True),
    ("10\\%", "10", True),
    ("90^\\circ", "90", True),
    ("\\$5", "5", True),
    ("x = 5", "5", True),
    ("3, 5, 7", "7,5,3", True),  # solutions: any order
    ("\\{1, 2\\}", "2, 1", True),
    ("\\left( 3, \\frac{\\pi}{2} \\right)", "(3, \\pi/2)", True),
    ("3\\sqrt{13}", "\\sqrt{117}", True),
    ("6 - 5i", "-5i + 6", True),
    ("10,\\!000", "10000", True),
    ("\\text{Evelyn}", "Evelyn", True),
    ("1/3", "0.33", False),
    ("[1, 2)", "(1, 2)", False),  # intervals: the brackets count
    ("(1, 2)", "(2, 1)", False),  # tuples: the order counts
    ("Evelyn", "nylevE", False),  # words are words, not products of letters
    ("\\frac{\\sqrt{3}}{2}", "\\frac{\\sqrt{2}}{2}", False),
]


@pytest.mark.parametrize("backend", MATH_BACKENDS)
@pytest.mark.parametrize("pred,gold,expected", MATH_CASES)
def test_math_equal(pred, gold, expected, backend):
    assert math_equal(pred, gold, backend) is expected


def test_math_kind_in_answers_match_and_fallback_details():
    assert answers_match("\\frac{1}{2}", "0.5", "math") and not answers_match(None, "0.5", "math")
    assert normalise_latex("\\left( 3, \\frac{\\pi}{2} \\right)") == "(3,(pi)/(2))"
    assert normalise_latex("\\sqrt[3]{8}") == "root(8,3)" and math_equal("\\sqrt[3]{8}", "2", "sympy")
    assert not math_equal("__import__('os')", "0", "sympy")  # never reaches sympy's parser
    assert not math_equal("9^{9^{9}}", "1", "sympy")  # never computed (math-verify times out after 5 s)
    with pytest.raises(ValueError, match="unknown math backend 'maple'"):
        math_equal("1", "1", "maple")


@pytest.mark.parametrize("value,expected", [
    ("5", "5"), ("5.0", "5"), (5.0, "5"), ("2.50", "2.5"), ("1,450,000", "1450000"), ("-3", "-3"),
    ("1,2", None), ("abc", None), ("nan", None), ("inf", None), (9.43, "9.43"),
    ("1e5", "100000"), ("2.5e-3", "0.0025"), (1e20, "100000000000000000000"),
    ("0.123456789012345678901234567890123", "0.123456789012345678901234567890123"),  # never rounded
])
def test_canonical_number(value, expected):
    assert canonical_number(value) == expected


def test_long_text_reads_only_the_answer_line():
    text = ("Step: 12 + 30 = 42 apples and 1,234 pears. " * 2000) + "\nThe answer is 42."
    assert extract_answer(text, "number") == "42"
    assert extract_answer(text[:-20], "number") is None
