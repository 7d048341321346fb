"""Students: any local causal LM (optionally with LoRA), or the embedded tiny Llama trained here.

- ``load_student(path)`` loads a model and its tokenizer from a local folder only (never a hub).
- ``train_word_tokenizer(texts)`` builds the tiny student's word-level tokenizer; every digit is
  its own token, so numbers are spelled digit by digit and arithmetic is learnable.
- ``build_tiny_student(params, tokenizer)`` a randomly initialised Llama of about 1M parameters.
- ``save_student(model, tokenizer, folder)`` writes an HF folder that ``from_pretrained`` reads.
- ``load_training_student(path, student, train)`` what a distillation trains: ``load_student`` with the
  ``student`` section's options, LoRA for a large student, refused up front when it cannot fit in memory
  (``training_memory_need``) or would train low-precision weights.
"""
from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path
from typing import Iterable, Literal

from mind_lib.formatting import has_chat_template
from mind_lib.params.student import AttnImplementation, Dtype, LoraParams, StudentParams

log = logging.getLogger(__name__)


PAD, BOS, EOS, UNK = "<pad>", "<bos>", "<eos>", "<unk>"
SPECIAL_TOKENS = [PAD, BOS, EOS, UNK]
# Always in the vocabulary even if the training texts lack some: every number must be spellable.
_ALPHABET_TEXT = "0 1 2 3 4 5 6 7 8 9 . , ; : ? ! ( ) + - * / = x\n"
# torch is imported inside the functions: the params classes are read by config and the CLI,
# which should not pay for importing torch.


def train_word_tokenizer(texts: Iterable[str], vocab_size: int = 4000, min_frequency: int = 1,
                         max_len: int = 256):
    """A word-level tokenizer trained on ``texts``, as a ``PreTrainedTokenizerFast``.

    Pre-tokenization: words at whitespace (kept as a leading "▁" so that decoding restores the
    exact text, newlines included), punctuation isolated, and every digit its own token
    ("12" -> "▁", "1", "2"). Unknown words become ``<unk>``. Special tokens: pad, bos, eos, unk.
    """
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.WordLevel(unk_token=UNK))
    # A newline is its own token; the space added after it makes the next word "▁word" like
    # anywhere else (one vocabulary entry per word), and the decoder removes it again.
    tok.normalizer = normalizers.Sequence([normalizers.Replace("\r\n", "\n"), normalizers.Replace("\t", " "),
                                           normalizers.Replace("\n", "\n ")])
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always", split=True),
        pre_tokenizers.Split("\n", behavior="isolated"),
        pre_tokenizers.Punctuation(behavior="isolated"),
        pre_tokenizers.Digits(individual_digits=True),
    ])
    tok.decoder = decoders.Sequence([decoders.Replace("▁", " "), decoders.Fuse(), decoders.Replace("\n ", "\n"),
                                     decoders.Strip(" ", 1, 0)])
    trainer = trainers.WordLevelTrainer(vocab_size=vocab_size, min_frequency=min_frequency,
                                        special_tokens=SPECIAL_TOKENS)

    def corpus():
        yield _ALPHABET_TEXT
        yield from texts

    tok.train_from_iterator(corpus(), trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token=BOS, eos_token=EOS, pad_token=PAD,
                                   unk_token=UNK, model_max_length=max_len, padding_side="right",
                                   clean_up_tokenization_spaces=False)


def build_tiny_student(params: StudentParams, tokenizer):
    """A randomly initialised ``LlamaForCausalLM`` sized by ``params`` (defaults: about 1M weights).

    Input and output embeddings are tied (half the embedding weights at this size). The
    initialisation draws from a generator seeded by ``params.init_seed`` without touching the
    global RNG state.
    """
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=params.d_model, intermediate_size=params.d_ff,
        num_hidden_layers=params.n_layers, num_attention_heads=params.n_heads, num_key_value_heads=params.n_heads,
        max_position_embeddings=params.max_len, tie_word_embeddings=True,
        pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(params.init_seed)
        model = LlamaForCausalLM(config)
    return model


def n_parameters(model) -> int:
    """Distinct weights (tied embeddings counted once)."""
    return sum(p.numel() for p in {id(p): p for p in model.parameters()}.values())


def save_student(model, tokenizer, folder: str | os.PathLike) -> Path:
    """Write ``model`` and ``tokenizer`` as an HF folder, replacing ``folder``'s model files.

    The files are written into a sibling temp folder first and moved in one by one, so a
    crash mid-save never leaves a half-written weight file under the final name. Other entries of
    ``folder`` (e.g. a ``training/`` run folder) are left alone.
    """
    folder = Path(folder)
    tmp = folder.with_name(folder.name + ".saving")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    folder.mkdir(parents=True, exist_ok=True)
    for f in sorted(tmp.iterdir()):
        os.replace(f, folder / f.name)
    tmp.rmdir()
    if not has_chat_template(tokenizer):  # an earlier save's template would otherwise come back on loading
        (folder / "chat_template.jinja").unlink(missing_ok=True)
    return folder


def drop_chat_template(folder: str | os.PathLike) -> None:
    """Remove the chat template of the tokenizer saved in ``folder`` (``student.chat_template: false``), so every
    reader of the folder prompts plainly (``formatting.prompt_ids``)."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
    if has_chat_template(tokenizer):
        tokenizer.chat_template = None
        tokenizer.save_pretrained(folder)
        (Path(folder) / "chat_template.jinja").unlink(missing_ok=True)


# What ``from_pretrained`` needs in a local folder (any one file of each group); checked up front because
# transformers' own errors for an empty folder point elsewhere (e.g. "install sentencepiece or tiktoken").
MODEL_FILES = {
    "config.json": ("config.json",),
    "weights": ("*.safetensors", "*.bin", "*.index.json"),
    "tokenizer files": ("tokenizer.json", "tokenizer_config.json", "tokenizer.model", "vocab.json", "vocab.txt",
                        "spiece.model"),
}


def check_model_folder(path: str | os.PathLike, who: str = "", hint: str = "") -> Path:
    """``path`` as a ``Path`` if it is a local model folder (config, weights, tokenizer), else
    ``FileNotFoundError`` naming the folder and what it lacks. ``who`` prefixes the message (e.g. the
    teacher's name), ``hint`` ends it (how to make the folder)."""
    path = Path(path)
    if not path.is_dir():
        problem = "does not exist" if not path.exists() else "is not a folder"
        raise FileNotFoundError(f"{who}model folder {path} {problem} (expected a local folder written by "
                                f"save_pretrained; nothing is downloaded){hint}")
    missing = [f"no {name} ({', '.join(patterns)})" for name, patterns in MODEL_FILES.items()
               if not any(next(path.glob(p), None) for p in patterns)]
    if missing:
        raise FileNotFoundError(f"{who}{path} holds no model/tokenizer: {'; '.join(missing)}; expected a local "
                                f"folder written by save_pretrained (model and tokenizer){hint}")
    return path


def apply_chat_template_choice(tokenizer, choice: bool | Literal["auto"], path: str | os.PathLike) -> None:
    """Make ``tokenizer`` carry ``student.chat_template``: false removes its template (so it is saved without one
    and every later reader prompts plainly, ``formatting.prompt_ids``); true requires one."""
    if choice is True and not has_chat_template(tokenizer):
        raise ValueError(f"student.chat_template: true, but the tokenizer at {path} has no chat template; "
                         f"set student.chat_template to auto (use it when present) or false")
    if choice is False:
        tokenizer.chat_template = None


def load_student(path: str | os.PathLike, dtype: Dtype = "auto", lora: LoraParams | None = None, *,
                 gradient_checkpointing: bool = False, attn_implementation: AttnImplementation | None = None,
                 chat_template: bool | Literal["auto"] = "auto"):
    """``(model, tokenizer)`` from a local folder holding any ``AutoModelForCausalLM`` and its tokenizer.

    ``dtype``: "auto" keeps the checkpoint's dtype. ``lora``: wrap the model in peft LoRA
    adapters (only those train). A tokenizer without a pad token gets its eos token as pad
    (padding positions are never trained on, so which id fills them does not matter).
    ``gradient_checkpointing``, ``attn_implementation``, ``chat_template``: as in ``StudentParams``.
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = check_model_folder(path, "student: ", "; for the embedded student run the pretrain stage first "
                                                 "(mind pretrain)")
    if dtype not in ("auto", "float32", "bfloat16", "float16"):
        raise ValueError(f"dtype must be one of auto, float32, bfloat16, float16; got {dtype!r}")
    tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    apply_chat_template_choice(tokenizer, chat_template, path)
    # None leaves transformers' own choice (and the call exactly as it was before the option existed)
    kernel = {"attn_implementation": attn_implementation} if attn_implementation else {}
    model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype, local_files_only=True, **kernel)
    if gradient_checkpointing:
        # Non-reentrant checkpointing; the training forward passes use_cache=False (strategies.base.logits), since
        # a KV cache is useless in training and conflicts with recomputation. transformers 5 renamed the method.
        enable = getattr(model, "activation_checkpointing_enable", None) or model.gradient_checkpointing_enable
        enable({"use_reentrant": False})
        if lora is not None:
            # the frozen embeddings' output would not require grad, leaving a checkpointed block with no grad
            # input under reentrant checkpointing; kept for any model whose checkpointing is reentrant
            model.enable_input_require_grads()
    if lora is not None:
        from peft import LoraConfig, get_peft_model

        config = LoraConfig(task_type="CAUSAL_LM", r=lora.r, lora_alpha=lora.alpha, lora_dropout=lora.dropout,
                            target_modules=lora.target_modules)
        model = get_peft_model(model, config)
    return model, tokenizer


def _empty_model(path: Path):
    """The model of ``path``'s config.json on the meta device: its shapes, no weights read or allocated."""
    import torch
    from accelerate import init_empty_weights
    from transformers import AutoConfig, AutoModelForCausalLM

    config = AutoConfig.from_pretrained(path, local_files_only=True)
    with torch.random.fork_rng(devices=[]), init_empty_weights():  # no draw from the global RNG either
        model = AutoModelForCausalLM.from_config(config)
    model.tie_weights()  # as from_pretrained does: tied embeddings are one weight
    return config, model


def lora_parameters(model, lora: LoraParams) -> int:
    """Weights LoRA adds to ``model`` (works on a meta-device model): ``r * (in + out)`` per adapted linear
    layer (every linear layer but the output head for "all-linear", else those whose name ends with a target)."""
    import torch

    head = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    total = 0
    for name, module in model.named_modules():
        if not isinstance(module, torch.nn.Linear) or module is head:
            continue
        if lora.target_modules == "all-linear" or any(name == t or name.endswith("." + t) for t in lora.target_modules):
            total += lora.r * (module.in_features + module.out_features)
    return total


GIB = 1024 ** 3
# Activation bytes kept per token and layer, in units of hidden size x bytes per activation value: ~17 values of
# hidden size per token in a transformer block (Korthikanti et al. 2022, "Reducing Activation Recomputation",
# without the attention-score term that sdpa/flash kernels never store), doubled for a wider MLP and the
# softmax/norm saves. With checkpointing only each block's input stays, plus one block being recomputed.
_ACT_PER_LAYER = 34
# Logits per token and vocabulary entry: the float32 logits, their log-softmax and its gradient (bytes).
_LOGIT_BYTES = 12


def training_memory_need(n_params: int, n_trainable: int, *, weight_bytes: int, trainable_bytes: int,
                         hidden_size: int, n_layers: int, vocab_size: int, tokens: int, activation_bytes: int,
                         gradient_checkpointing: bool) -> dict[str, int]:
    """Bytes one training process needs, by part (a rough estimate; sum the values for the total).

    weights: every weight at ``weight_bytes``; gradients and AdamW's two states: the ``n_trainable`` weights at
    ``trainable_bytes`` (LoRA adapters are float32); activations: ``tokens`` (prompt and target, per micro-batch)
    through ``n_layers`` blocks of ``hidden_size`` at ``activation_bytes`` (2 under bf16 autocast), fewer with
    ``gradient_checkpointing``; logits: ``tokens`` x ``vocab_size`` in float32, with their gradient.
    """
    per_layer = tokens * hidden_size * activation_bytes
    activations = (per_layer * (n_layers + _ACT_PER_LAYER) if gradient_checkpointing
                   else per_layer * _ACT_PER_LAYER * n_layers)
    return {"weights": n_params * weight_bytes, "gradients": n_trainable * trainable_bytes,
            "AdamW states": 2 * n_trainable * trainable_bytes, "activations": activations,
            "logits": tokens * vocab_size * _LOGIT_BYTES}


def available_memory(cuda: bool) -> tuple[int, str]:
    """``(free bytes, where)``: the free memory of this process's GPU (``torch.cuda.mem_get_info``; LOCAL_RANK
    under ``accelerate launch``/``torchrun``, as the trainer's accelerator picks it), else the available RAM
    (psutil when installed, else /proc/meminfo's MemAvailable); 0 bytes when neither can be read."""
    if cuda:
        import torch

        device = int(os.environ.get("LOCAL_RANK", "0")) % torch.cuda.device_count()
        return torch.cuda.mem_get_info(device)[0], f"GPU {device} ({torch.cuda.get_device_name(device)})"
    try:
        import psutil

        return psutil.virtual_memory().available, "RAM"
    except ImportError:
        pass
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024, "RAM"
    except OSError:
        pass
    return 0, "RAM"


def check_training_memory(path, need: dict[str, int], available: int, where: str, lora: bool) -> None:
    """``MemoryError`` when ``need`` (``training_memory_need``) exceeds ``available`` bytes (0 = unknown: no
    check), naming the student, the need by part and what to set."""
    total = sum(need.values())
    if not available or total <= available:
        return
    parts = ", ".join(f"{k} {v / GIB:.1f}" for k, v in need.items())
    fixes = ([] if lora else ["student.lora (only adapters train: no gradients or AdamW states for the base weights)"])
    fixes += ["student.gradient_checkpointing: true (activations)",
              "a smaller distill.train.batch_tokens (activations and logits; raise grad_accum to keep the step)"]
    raise MemoryError(f"student {path}: training needs about {total / GIB:.1f} GiB ({parts} GiB, estimated) but "
                      f"{where} has {available / GIB:.1f} GiB free; set " + "; or ".join(fixes))


def load_training_student(path: str | os.PathLike, student: StudentParams, train):
    """``load_student(path)`` for a distillation, with ``student``'s options; ``(model, tokenizer)``. ``train``:
    the run's ``TrainParams`` (device, batch size, mixed precision; not imported here, which would make every
    reader of this module, the collect stage's HF teachers included, depend on the train params).

    Before any weight is read (the model's shapes come from config.json on the meta device): a student above
    ``student.lora_above_params`` weights without ``lora`` gets default LoRA adapters (unless
    ``full_finetune``); training low-precision weights is refused unless ``low_precision_training``; and a
    student whose estimated training memory (``training_memory_need``) exceeds the free memory of the device
    ``train`` trains on is refused (``MemoryError``).
    """
    import torch

    path = check_model_folder(path, "student: ", "; for the embedded student run the pretrain stage first "
                                                 "(mind pretrain)")
    config, empty = _empty_model(path)
    n_params = n_parameters(empty)
    lora = student.lora
    if lora is None and not student.full_finetune and n_params > student.lora_above_params:
        lora = LoraParams()
        log.warning("student %s: %.2fB weights > student.lora_above_params (%.2fB): training LoRA adapters (%s); "
                    "set student.full_finetune: true to train every weight", path, n_params / 1e9,
                    student.lora_above_params / 1e9, lora.model_dump())
    # "auto" keeps the checkpoint's dtype, which config.json records (dtype, or torch_dtype before transformers 5)
    saved = getattr(config, "dtype", None) or getattr(config, "torch_dtype", None)
    dtype = student.dtype if student.dtype != "auto" else str(saved or "float32")
    dtype = dtype.removeprefix("torch.")
    weight_bytes = 2 if dtype in ("bfloat16", "float16") else 4
    if lora is None and weight_bytes == 2 and not student.low_precision_training:
        raise ValueError(
            f"student {path}: every weight would train in {dtype} (student.dtype: {student.dtype}): AdamW updates "
            f"smaller than a {dtype} weight's rounding step (about 1/256 of its size in bfloat16) are lost, so "
            f"small learning rates barely move the model. Set student.dtype: float32 (float32 master weights; "
            f"train.mixed_precision: auto still computes in bf16 on a GPU), or add student.lora, or set "
            f"student.low_precision_training: true to train the {dtype} weights anyway")
    cuda = not train.cpu and torch.cuda.is_available()
    n_trainable = lora_parameters(empty, lora) if lora is not None else n_params
    text = config.get_text_config()  # multimodal configs nest the language model's
    # tokens per micro-batch: batch_tokens counts target tokens only; prompts are taken as long as the targets
    # (a rationale is longer than its question, an answer line shorter). Without it, full batches of max_len.
    tokens = 2 * train.batch_tokens if train.batch_tokens else train.batch_size * student.max_len
    need = training_memory_need(
        n_params, n_trainable, weight_bytes=weight_bytes, trainable_bytes=4 if lora is not None else weight_bytes,
        hidden_size=text.hidden_size, n_layers=text.num_hidden_layers, vocab_size=text.vocab_size, tokens=tokens,
        gradient_checkpointing=student.gradient_checkpointing,
        activation_bytes=2 if cuda and train.mixed_precision != "no" else 4)
    check_training_memory(path, need, *available_memory(cuda), lora=lora is not None)
    return load_student(path, dtype=student.dtype, lora=lora, gradient_checkpointing=student.gradient_checkpointing,
                        attn_implementation=student.attn_implementation, chat_template=student.chat_template)
