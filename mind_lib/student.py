"""Students: any local causal LM (optionally with LoRA), or the embedded tiny Llama trained here.

- ``load_student(path)`` loads a model and its tokenizer from a local folder only (never a hub).
- ``train_word_tokenizer(texts)`` builds the tiny student's word-level tokenizer; every digit is
  its own token, so numbers are spelled digit by digit and arithmetic is learnable.
- ``build_tiny_student(params, tokenizer)`` a randomly initialised Llama of about 1M parameters.
- ``save_student(model, tokenizer, folder)`` writes an HF folder that ``from_pretrained`` reads.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Iterable


from mind_lib.params.student import Dtype, LoraParams, StudentParams


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
    return folder


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


def load_student(path: str | os.PathLike, dtype: Dtype = "auto", lora: LoraParams | None = None):
    """``(model, tokenizer)`` from a local folder holding any ``AutoModelForCausalLM`` and its tokenizer.

    ``dtype``: "auto" keeps the checkpoint's dtype. ``lora``: wrap the model in peft LoRA
    adapters (only those train). A tokenizer without a pad token gets its eos token as pad
    (padding positions are never trained on, so which id fills them does not matter).
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = check_model_folder(path, "student: ", "; for the embedded student run the pretrain stage first "
                                                 "(mind pretrain)")
    if dtype not in ("auto", "float32", "bfloat16", "float16"):
        raise ValueError(f"dtype must be one of auto, float32, bfloat16, float16; got {dtype!r}")
    tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype, local_files_only=True)
    if lora is not None:
        from peft import LoraConfig, get_peft_model

        config = LoraConfig(task_type="CAUSAL_LM", r=lora.r, lora_alpha=lora.alpha, lora_dropout=lora.dropout,
                            target_modules=lora.target_modules)
        model = get_peft_model(model, config)
    return model, tokenizer
