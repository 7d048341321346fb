"""Prompt/target formatting and the loss mask: labels are -100 exactly on prompt and padding."""
import pytest
import torch

from mind_lib.formatting import IGNORE, SEPARATOR, answer_text, format_prompt, tokenize_example
from mind_lib.strategies.base import TextItem, build_item_set, collate
from tests.distill_data import make_examples, make_rows, make_tokenizer

EXAMPLES = make_examples(4)
TOK = make_tokenizer(EXAMPLES, make_rows(EXAMPLES))


def _ids(text):
    return TOK(text, add_special_tokens=False)["input_ids"]


def test_prompt_format():
    assert format_prompt("How many?") == "How many?" + SEPARATOR
    assert format_prompt("How many?", "[label]") == "[label] How many?" + SEPARATOR
    assert answer_text("12") == "The answer is 12."


def test_labels_mask_exactly_the_prompt_and_eos_is_appended():
    prompt, target = format_prompt(EXAMPLES[0].question), "3 + 1 = 4.\nThe answer is 4."
    tok = tokenize_example(TOK, prompt, target, max_len=96)
    n_prompt = 1 + len(_ids(prompt))  # bos + prompt
    assert tok.input_ids == [TOK.bos_token_id] + _ids(prompt) + _ids(" " + target) + [TOK.eos_token_id]
    assert tok.labels[:n_prompt] == [IGNORE] * n_prompt
    assert tok.labels[n_prompt:] == tok.input_ids[n_prompt:]
    assert tok.labels[-1] == TOK.eos_token_id and not tok.truncated
    assert tok.n_target == len(_ids(" " + target)) + 1
    assert TOK.decode(tok.input_ids, skip_special_tokens=True) == f"{prompt} {target}"


def test_padding_is_masked_in_a_batch():
    items = build_item_set(TOK, [TextItem("a", "p", format_prompt("Mia has 3 apples ?"), "The answer is 3."),
                                 TextItem("b", "p", format_prompt(EXAMPLES[1].question),
                                          "x = 1 + 2 = 3.\nThe answer is 3.")],
                           max_len=96)
    batch = collate(items.items, TOK.pad_token_id)
    for row, it in enumerate(items.items):
        n = len(it)
        assert batch.input_ids[row, :n].tolist() == list(it.input_ids)
        assert batch.labels[row, :n].tolist() == list(it.labels)
        assert (batch.input_ids[row, n:] == TOK.pad_token_id).all() and (batch.labels[row, n:] == IGNORE).all()
    # the supervised positions are exactly the target tokens, nowhere else
    assert int((batch.labels != IGNORE).sum()) == sum(it.n_target for it in items.items)
    assert batch.question.tolist() == [0, 1] and batch.perspective.tolist() == [0, 0]
    assert batch.weight.dtype == torch.float32


def test_empty_prompt_trains_on_the_whole_text():
    tok = tokenize_example(TOK, "", "Mia has 3 apples.", max_len=96)
    assert tok.labels[0] == IGNORE and tok.labels[1:] == tok.input_ids[1:]


def test_truncation_cuts_the_target_end():
    prompt = format_prompt(EXAMPLES[0].question)
    n_prompt = 1 + len(_ids(prompt))
    tok = tokenize_example(TOK, prompt, "3 + 1 = 4.\nThe answer is 4.", max_len=n_prompt + 3)
    assert tok.truncated and len(tok.input_ids) == n_prompt + 3 and tok.n_target == 3
    assert tok.labels[:n_prompt] == [IGNORE] * n_prompt
    with pytest.raises(ValueError, match="no room for a target within max_len"):
        tokenize_example(TOK, prompt, "The answer is 4.", max_len=n_prompt)
