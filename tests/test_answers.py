"""Answer extraction and comparison: every supported format, and None where no answer is stated."""
import time

import pytest

from mind_lib.answers import answers_match, canonical_number, extract_answer

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
    with pytest.raises(ValueError, match="allowed: number, yesno, choice, text"):
        extract_answer("The answer is 5", "float")


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


@pytest.mark.parametrize("value,expected", [
    ("5", "5"), ("5.0", "5"), (5.0, "5"), ("2.50", "2.5"), ("1,450,000", "1450000"), ("-3", "-3"),
    ("1,2", None), ("abc", None), ("nan", None), ("inf", None), (9.43, "9.43"),
])
def test_canonical_number(value, expected):
    assert canonical_number(value) == expected


def test_fast_on_long_text():
    text = ("Step: 12 + 30 = 42 apples and 1,234 pears. " * 2000) + "\nThe answer is 42."
    start = time.perf_counter()
    for _ in range(20):
        assert extract_answer(text, "number") == "42"
        assert extract_answer(text[:-20], "number") is None
    assert time.perf_counter() - start < 2.0
