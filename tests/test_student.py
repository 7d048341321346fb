"""The embedded student: word tokenizer, tiny Llama, save/load through the Auto classes, LoRA."""
import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from mind_lib.student import (LoraParams, StudentParams, build_tiny_student, load_student, n_parameters,
                              save_student, train_word_tokenizer)
from tests.distill_data import TINY, make_examples, make_rows, save_tiny_student

EXAMPLES = make_examples(6)
ROWS = make_rows(EXAMPLES)


@pytest.fixture(scope="module")
def student_dir(tmp_path_factory):
    return save_tiny_student(tmp_path_factory.mktemp("student"), EXAMPLES, ROWS)


def test_word_tokenizer_digits_words_and_exact_decoding():
    tok = train_word_tokenizer(["Mia has 12 apples.\nShe buys 3 more."], vocab_size=100)
    ids = tok("Mia has 125 apples.", add_special_tokens=False)["input_ids"]
    assert tok.convert_ids_to_tokens(ids) == ["▁Mia", "▁has", "▁", "1", "2", "5", "▁apples", "."]
    assert tok.decode(ids) == "Mia has 125 apples."  # lossless: numbers and punctuation read normally
    assert tok.decode(tok("She buys 3.\nMia has 7", add_special_tokens=False)["input_ids"]) == "She buys 3.\nMia has 7"
    assert all(len(tok(str(d), add_special_tokens=False)["input_ids"]) == 2 for d in range(10))  # "▁", digit
    assert tok("Zebra", add_special_tokens=False)["input_ids"] == [tok.unk_token_id]
    assert [tok.pad_token_id, tok.bos_token_id, tok.eos_token_id, tok.unk_token_id] == [0, 1, 2, 3]


def test_default_tiny_student_has_about_a_million_weights():
    words = [a + b + c for a in "abcdefghijkl" for b in "mnopqrstuvwx" for c in "aeiouyz"]  # ~1000 words
    tok = train_word_tokenizer([" ".join(words)], vocab_size=2000)
    model = build_tiny_student(StudentParams(), tok)
    cfg = model.config
    assert (cfg.num_hidden_layers, cfg.hidden_size, cfg.num_attention_heads) == (4, 128, 4)
    assert len(tok) > 1000 and 0.8e6 < n_parameters(model) < 1.2e6


def test_saved_student_loads_back_with_auto_classes(student_dir):
    model = AutoModelForCausalLM.from_pretrained(student_dir)
    tok = AutoTokenizer.from_pretrained(student_dir)
    model_ref = build_tiny_student(TINY, tok)  # same init seed -> same weights
    for (name, a), (_, b) in zip(model.state_dict().items(), model_ref.state_dict().items()):
        assert torch.equal(a, b), name
    ids = tok(EXAMPLES[0].question, return_tensors="pt", add_special_tokens=False)["input_ids"]
    assert model(input_ids=ids).logits.shape == (1, ids.shape[1], len(tok))
    assert tok.decode(ids[0]) == EXAMPLES[0].question


def test_load_student_with_lora_trains_only_adapters(student_dir):
    model, tok = load_student(student_dir, dtype="float32", lora=LoraParams(r=4, alpha=8))
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in n for n in trainable)
    assert tok.pad_token_id == 0


def test_load_student_needs_a_local_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"nowhere does not exist .*run the pretrain stage first"):
        load_student(tmp_path / "nowhere")


def test_save_student_keeps_other_entries(tmp_path, student_dir):
    model, tok = load_student(student_dir)
    (tmp_path / "training").mkdir()
    save_student(model, tok, tmp_path)
    assert (tmp_path / "training").is_dir() and (tmp_path / "config.json").exists()
    assert not any(p.name.endswith(".saving") for p in tmp_path.parent.iterdir())


@pytest.mark.parametrize("bad,match", [
    ({"d_model": 30, "n_heads": 4}, "must be an even integer"),
    ({"n_layers": 0}, "n_layers"),
    ({"source": "hub"}, "source"),
    ({"layers": 2}, "layers"),
])
def test_bad_student_params(bad, match):
    with pytest.raises(ValueError, match=match):
        StudentParams(**bad)
