"""HFTeacher on a tiny random Llama with a locally trained tokenizer (nothing from a hub), plus the
prompt builders it renders."""
from __future__ import annotations

import pytest
import torch
from tokenizers import Tokenizer, models, pre_tokenizers, trainers
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

from mind_lib.answers import extract_answer
from mind_lib.params.collect import TeacherSpec
from mind_lib.tasks.base import Example
from mind_lib.teachers import prompts
from mind_lib.teachers.hf import HFTeacher
from mind_lib.teachers.registry import build_teacher

CHAT_TEMPLATE = ("{% for m in messages %}<|{{ m['role'] }}|> {{ m['content'] }} {% endfor %}"
                 "{% if add_generation_prompt %}<|assistant|>{% endif %}")

EXAMPLES = [
    Example("q1", "Ann has 3 apples and buys 4 more. How many apples does she have?", "7", "number", "train"),
    Example("q2", "A box holds 12 pens. Tom takes 5 pens. How many pens are left in the box now?", "7",
            "number", "train"),
    Example("q3", "Is 9 an even number?", "no", "yesno", "train"),
]


def _corpus() -> list[str]:
    texts = [prompts.build_prompt(e) for e in EXAMPLES]
    texts += [m["content"] for e in EXAMPLES for m in prompts.build_messages(e)]
    return texts + ["<|system|> <|user|> <|assistant|>"]


def _save_tiny_model(folder, chat_template: str | None) -> None:
    """A 2-layer Llama (random init) and a WordLevel tokenizer trained on the prompts; no pad token,
    so the teacher must fall back to eos."""
    tok = Tokenizer(models.WordLevel(unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.train_from_iterator(_corpus(), trainers.WordLevelTrainer(special_tokens=["[UNK]", "<s>", "</s>"]))
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", bos_token="<s>", eos_token="</s>")
    if chat_template:
        fast.chat_template = chat_template
    fast.save_pretrained(folder)
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=len(fast), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=1024,
                         bos_token_id=fast.bos_token_id, eos_token_id=fast.eos_token_id, pad_token_id=None)
    LlamaForCausalLM(config).save_pretrained(folder)


@pytest.fixture(scope="module")
def plain_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tiny_plain")
    _save_tiny_model(folder, chat_template=None)
    return folder


@pytest.fixture(scope="module")
def chat_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tiny_chat")
    _save_tiny_model(folder, chat_template=CHAT_TEMPLATE)
    return folder


def _teacher(folder, **kw) -> HFTeacher:
    return HFTeacher(folder, name="tiny", dtype="float32", device_map=None, **{"max_new_tokens": 6, **kw})


# ---------------------------------------------------------------------------------------- prompts


@pytest.mark.parametrize("kind", ["number", "yesno", "choice", "math"])
def test_exemplars_end_with_an_extractable_answer(kind):
    for _, rationale in prompts.EXEMPLARS[kind]:
        assert extract_answer(rationale, kind) is not None, rationale


def test_prompt_and_messages_carry_instruction_exemplars_and_question():
    e = EXAMPLES[0]
    text = prompts.build_prompt(e)
    assert text.endswith(f"Q: {e.question}\nA:") and "The answer is 13." in text
    system, user = prompts.build_messages(e)
    assert (system["role"], user["role"]) == ("system", "user") and user["content"] == e.question
    assert "The answer is X." in system["content"] and "The answer is 10." in system["content"]
    assert "yes or no" in prompts.build_messages(EXAMPLES[2])[0]["content"]
    with pytest.raises(ValueError, match="unknown answer kind"):
        prompts.instruction("essay")


@pytest.mark.parametrize("raw, expected", [
    (" 2 + 5 = 7. The answer is 7.\n\nQ: next question", "2 + 5 = 7. The answer is 7."),
    ("Half is 2.5. The answer is 2.5. And then more", "Half is 2.5. The answer is 2.5."),
    ("So yes.\nThe answer is yes\nextra line", "So yes.\nThe answer is yes"),
    ("no answer line at all ", "no answer line at all"),
])
def test_trim_rationale(raw, expected):
    assert prompts.trim_rationale(raw) == expected


# ---------------------------------------------------------------------------------------- HFTeacher


def test_sampling_returns_n_continuations_per_example_and_is_seeded(plain_dir):
    teacher = _teacher(plain_dir, temperature=1.0, batch_size=2)
    assert teacher.tokenizer.pad_token == teacher.tokenizer.eos_token == "</s>"
    out = teacher.generate(EXAMPLES, n=3, seed=7)
    assert len(out) == len(EXAMPLES) and all(len(r) == 3 and all(isinstance(t, str) for t in r) for r in out)
    for rationales in out:  # the prompt is stripped: only up to max_new_tokens generated tokens remain
        for t in rationales:
            assert len(teacher.tokenizer(t, add_special_tokens=False)["input_ids"]) <= 6
            assert "Q :" not in t and "Solve the problem" not in t
    assert teacher.generate(EXAMPLES, n=3, seed=7) == out
    assert teacher.generate(EXAMPLES, n=3, seed=8) != out


def test_left_padding_batched_equals_one_by_one_under_greedy(plain_dir, monkeypatch):
    teacher = _teacher(plain_dir, temperature=0.0, batch_size=3)
    sides = []
    original = teacher.model.generate

    def spy(**kwargs):
        sides.append(teacher.tokenizer.padding_side)
        mask = kwargs["attention_mask"]
        assert (mask[:, -1] == 1).all()  # every prompt ends in the last column: left padding
        assert kwargs["do_sample"] is False
        return original(**kwargs)

    monkeypatch.setattr(teacher.model, "generate", spy)
    batched = teacher.generate(EXAMPLES, n=2, seed=0)
    single = [teacher.generate([e], n=2, seed=0)[0] for e in EXAMPLES]
    assert sides == ["left"] * 4
    assert batched == single
    assert all(r[0] == r[1] for r in batched)  # greedy: the one rationale is repeated n times
    assert teacher.generate(EXAMPLES, n=2, seed=123) == batched  # greedy ignores the seed


def test_chat_template_used_when_present(plain_dir, chat_dir):
    chat = _teacher(chat_dir, temperature=0.0)
    assert chat.use_chat_template
    rendered = chat.render(EXAMPLES[0])
    assert rendered.startswith("<|system|> Solve the problem") and rendered.endswith("<|assistant|>")
    assert len(chat.generate(EXAMPLES[:2], n=2, seed=1)) == 2
    plain = _teacher(plain_dir, temperature=0.0)
    assert not plain.use_chat_template and plain.render(EXAMPLES[0]) == prompts.build_prompt(EXAMPLES[0])
    assert not _teacher(chat_dir, use_chat_template=False).use_chat_template
    with pytest.raises(ValueError, match="no chat template"):
        _teacher(plain_dir, use_chat_template=True)


def test_from_spec_and_registry(chat_dir):
    spec = TeacherSpec(name="tiny-hf", backend="hf", path=str(chat_dir), temperature=0.5, max_new_tokens=4,
                       options={"batch_size": 2, "dtype": "float32", "device_map": None, "top_p": 0.9})
    teacher = build_teacher(spec)
    assert isinstance(teacher, HFTeacher) and (teacher.name, teacher.perspective) == ("tiny-hf", "tiny-hf")
    prov = teacher.provenance()
    assert prov["backend"] == "hf" and prov["path"] == str(chat_dir) and prov["dtype"] == "float32"
    assert (prov["temperature"], prov["top_p"], prov["max_new_tokens"], prov["batch_size"]) == (0.5, 0.9, 4, 2)
    assert prov["chat_template"] is True and prov["prompt"] == prompts.PROMPT_VERSION
    assert [len(r) for r in teacher.generate(EXAMPLES, n=2, seed=0)] == [2, 2, 2]

    bad = spec.model_copy(update={"options": {"batch_sise": 2}})
    with pytest.raises(ValueError, match=r"unknown option.*batch_sise.*batch_size"):
        HFTeacher.from_spec(bad)


def test_registry_dispatches_builtin_and_rejects_wrong_backend():
    builtin = pytest.importorskip("mind_lib.teachers.builtin")
    teacher = build_teacher(TeacherSpec(name="eq", backend="builtin", style="equation"))
    assert isinstance(teacher, builtin.BuiltinTeacher) and teacher.name == "eq"
    with pytest.raises(ValueError, match="needs backend 'hf'"):
        HFTeacher.from_spec(TeacherSpec(name="eq", backend="builtin", style="equation"))


def test_missing_path_is_a_clear_error(tmp_path):
    missing = tmp_path / "no_such_model"
    with pytest.raises(FileNotFoundError, match="no_such_model"):
        HFTeacher(missing)
    spec = TeacherSpec(name="ghost", backend="hf", path=str(missing))
    with pytest.raises(FileNotFoundError, match=r"ghost.*no_such_model"):
        build_teacher(spec)
