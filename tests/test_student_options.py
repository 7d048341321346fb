"""The `student` options a real (GPU) student uses: gradient checkpointing and the attention kernel, the chat
template through the one prompt encoding, LoRA above a size, low-precision weights, and the memory check."""
import logging

import pytest
import torch

import mind_lib.student
from mind_lib.distill import distill
from mind_lib.formatting import IGNORE, chat_text, format_prompt, pad_right, prompt_ids, tokenize_pairs
from mind_lib.params.student import LoraParams, StudentParams
from mind_lib.student import (GIB, _empty_model, build_tiny_student, check_training_memory, lora_parameters,
                              load_student, load_training_student, n_parameters, save_student, training_memory_need,
                              train_word_tokenizer)
from tests.distill_data import TINY, fast_train, make_examples, make_rows, make_tokenizer

EXAMPLES = make_examples(6)
ROWS = make_rows(EXAMPLES)
# bos written by the template itself, the reply closed by eos: what instruct templates do
TEMPLATE = ("{{ bos_token }}{% for m in messages %}{% if m['role'] == 'user' %}Q: {{ m['content'] }}"
            "{% else %} A: {{ m['content'] }}{{ eos_token }}{% endif %}{% endfor %}"
            "{% if add_generation_prompt %} A:{% endif %}")


def _save(folder, chat_template=None):
    tok = make_tokenizer(EXAMPLES, ROWS)
    if chat_template:
        tok.chat_template = chat_template
    save_student(build_tiny_student(TINY, tok), tok, folder)
    return folder


@pytest.fixture(scope="module")
def plain_dir(tmp_path_factory):
    return _save(tmp_path_factory.mktemp("plain"))


@pytest.fixture(scope="module")
def chat_dir(tmp_path_factory):
    return _save(tmp_path_factory.mktemp("chat"), TEMPLATE)


def _checkpointing(model) -> bool:
    # transformers 5 renamed it; the old name warns
    new = hasattr(type(model), "is_activation_checkpointing")
    return model.is_activation_checkpointing if new else model.is_gradient_checkpointing


def _loss_and_grads(model, tok):
    model.train()
    seqs = prompt_ids(tok, [format_prompt(e.question) for e in EXAMPLES[:2]])
    loss = model(input_ids=pad_right(seqs, tok.pad_token_id), labels=pad_right(seqs, IGNORE), use_cache=False).loss
    loss.backward()
    return loss.detach(), {n: p.grad.clone() for n, p in model.named_parameters() if p.requires_grad}


@pytest.mark.parametrize("lora", [None, LoraParams(r=4, alpha=8, dropout=0.0)])
def test_checkpointing_and_attention_reach_the_model_and_keep_loss_and_gradients(plain_dir, lora):
    torch.manual_seed(0)
    plain, tok = load_student(plain_dir, dtype="float32", lora=lora)
    torch.manual_seed(0)
    ckpt, _ = load_student(plain_dir, dtype="float32", lora=lora, gradient_checkpointing=True,
                           attn_implementation="eager")
    base = ckpt.get_base_model() if lora else ckpt
    assert base.config._attn_implementation == "eager" and _checkpointing(base)
    assert not _checkpointing(plain.get_base_model() if lora else plain)
    loss_a, grads_a = _loss_and_grads(plain, tok)
    loss_b, grads_b = _loss_and_grads(ckpt, tok)
    assert torch.allclose(loss_a, loss_b, atol=1e-5) and grads_a.keys() == grads_b.keys() and grads_a
    for name in grads_a:  # with LoRA these are the adapters: gradients flow through the checkpointed blocks
        assert torch.allclose(grads_a[name], grads_b[name], atol=1e-5), name


def test_chat_template_trains_the_assistant_turn_and_prompts_evaluation_alike(chat_dir):
    from mind_lib import evaluate

    _, tok = load_student(chat_dir, dtype="float32")  # auto: the tokenizer has a template
    prompt, target = format_prompt(EXAMPLES[0].question), ROWS[0]["rationale"]
    item = tokenize_pairs(tok, [prompt], [target], 200, answer_spans=True)[0]
    head = evaluate.prompt_ids(tok, [prompt])[0]  # what generation feeds the student
    rendered = chat_text(tok, [{"role": "user", "content": prompt}])
    assert rendered.startswith("<bos>Q: ") and rendered.endswith(" A:")
    assert head == tok(rendered, add_special_tokens=False)["input_ids"] and head.count(tok.bos_token_id) == 1
    assert item.input_ids[:len(head)] == head
    supervised = [i for i, label in enumerate(item.labels) if label != IGNORE]
    assert supervised == list(range(len(head), len(item.input_ids)))  # exactly the assistant's turn
    reply = item.input_ids[len(head):]
    assert tok.decode(reply, skip_special_tokens=True).strip() == target
    assert reply.count(tok.eos_token_id) == 1 and reply[-1] == tok.eos_token_id  # the template's eos, not doubled
    start, n = item.answer
    assert tok.decode(item.input_ids[start:start + n]).strip() == ROWS[0]["pred_answer"]


def test_chat_template_choice_is_carried_by_the_saved_tokenizer(chat_dir, plain_dir, tmp_path):
    model, tok = load_student(chat_dir, chat_template=False)
    assert prompt_ids(tok, ["Hi"])[0][0] == tok.bos_token_id and not tok.chat_template
    save_student(model, tok, tmp_path / "run")
    assert not (tmp_path / "run" / "chat_template.jinja").exists()
    assert not load_student(tmp_path / "run")[1].chat_template  # evaluation then prompts plainly too
    assert load_student(chat_dir, chat_template=True)[1].chat_template == TEMPLATE
    with pytest.raises(ValueError, match=r"student.chat_template: true, but the tokenizer at .* has no chat template"):
        load_student(plain_dir, chat_template=True)
    assert not load_student(plain_dir)[1].chat_template  # the tiny student: plain prompts, as always


def test_distill_trains_and_saves_a_chat_student(chat_dir, tmp_path):
    student = StudentParams(source="path", path=str(chat_dir), max_len=TINY.max_len)
    summary = distill("std_cot", 0, tmp_path / "run", train_examples=EXAMPLES, rows=ROWS, student=student,
                      params=fast_train(), options={"golden_teacher": "expert"}, max_steps=1)
    assert summary["steps"] == 1
    assert load_student(tmp_path / "run")[1].chat_template == TEMPLATE


def test_memory_need_counts_weights_gradients_adam_activations_and_logits():
    need = training_memory_need(10**9, 10**9, weight_bytes=4, trainable_bytes=4, hidden_size=1000, n_layers=10,
                                vocab_size=100, tokens=1000, activation_bytes=2, gradient_checkpointing=False)
    assert need == {"weights": 4 * 10**9, "gradients": 4 * 10**9, "AdamW states": 8 * 10**9,
                    "activations": 1000 * 1000 * 2 * 34 * 10, "logits": 1000 * 100 * 12}
    lora = training_memory_need(10**9, 10**6, weight_bytes=2, trainable_bytes=4, hidden_size=1000, n_layers=10,
                                vocab_size=100, tokens=1000, activation_bytes=2, gradient_checkpointing=True)
    assert lora["weights"] == 2 * 10**9 and lora["AdamW states"] == 8 * 10**6
    assert lora["activations"] == 1000 * 1000 * 2 * (10 + 34) < need["activations"]


def test_memory_check_names_the_student_the_need_and_the_fixes():
    need = {"weights": 3 * GIB, "activations": GIB}
    check_training_memory("/models/x", need, 5 * GIB, "RAM", lora=False)  # fits
    check_training_memory("/models/x", need, 0, "RAM", lora=False)  # unknown: no check
    with pytest.raises(MemoryError, match=r"student /models/x: training needs about 4.0 GiB \(weights 3.0, "
                                          r"activations 1.0 GiB, estimated\) but GPU 0 has 2.0 GiB free") as err:
        check_training_memory("/models/x", need, 2 * GIB, "GPU 0", lora=False)
    assert all(k in str(err.value) for k in ("student.lora", "gradient_checkpointing: true", "batch_tokens"))
    with pytest.raises(MemoryError) as err:
        check_training_memory("/models/x", need, 2 * GIB, "GPU 0", lora=True)
    assert "student.lora" not in str(err.value)


def test_training_student_gets_lora_above_the_threshold(plain_dir, caplog):
    train = fast_train()
    _, empty = _empty_model(plain_dir)
    n = n_parameters(empty)
    model, _ = load_training_student(plain_dir, TINY, train)  # the default threshold: full training, as always
    assert n_parameters(model) == n and all(p.requires_grad for p in model.parameters())
    small = TINY.model_copy(update={"lora_above_params": n - 1})
    with caplog.at_level(logging.WARNING, logger="mind_lib.student"):
        model, _ = load_training_student(plain_dir, small, train)
    assert "training LoRA adapters" in caplog.text and "full_finetune" in caplog.text
    trainable = [p for name, p in model.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in name for name, p in model.named_parameters() if p.requires_grad)
    assert sum(p.numel() for p in trainable) == lora_parameters(empty, LoraParams())  # the estimate's count
    full = small.model_copy(update={"full_finetune": True})
    model, _ = load_training_student(plain_dir, full, train)
    assert all(p.requires_grad for p in model.parameters())
    with pytest.raises(ValueError, match="full_finetune: true trains every weight, but student.lora is set"):
        StudentParams(full_finetune=True, lora=LoraParams())


def test_low_precision_full_training_is_refused_unless_allowed(plain_dir, tmp_path):
    bf16 = TINY.model_copy(update={"dtype": "bfloat16"})
    with pytest.raises(ValueError, match=r"every weight would train in bfloat16 .*float32 master weights"):
        load_training_student(plain_dir, bf16, fast_train())
    model, tok = load_student(plain_dir)
    save_student(model.to(torch.bfloat16), tok, tmp_path / "bf16")  # a checkpoint saved in bf16, as Qwen's are
    with pytest.raises(ValueError, match=r"every weight would train in bfloat16 \(student.dtype: auto\)"):
        load_training_student(tmp_path / "bf16", TINY.model_copy(update={"dtype": "auto"}), fast_train())
    model, _ = load_training_student(plain_dir, bf16.model_copy(update={"low_precision_training": True}), fast_train())
    assert next(model.parameters()).dtype == torch.bfloat16
    model, _ = load_training_student(plain_dir, bf16.model_copy(update={"lora": LoraParams()}), fast_train())
    assert all(p.dtype == torch.float32 for p in model.parameters() if p.requires_grad)  # adapters stay float32


def test_a_student_too_large_for_the_memory_is_refused_before_loading(plain_dir, monkeypatch):
    monkeypatch.setattr(mind_lib.student, "available_memory", lambda cuda: (1000, "RAM"))
    monkeypatch.setattr(mind_lib.student, "load_student", lambda *a, **k: pytest.fail("the model was loaded"))
    with pytest.raises(MemoryError, match=rf"student {plain_dir}: training needs about .* GiB .* but RAM has 0.0 GiB"):
        load_training_student(plain_dir, TINY, fast_train())


def test_word_tokenizer_has_no_chat_template():
    assert not train_word_tokenizer(["a b"]).chat_template
