"""What machine a result came from: ``machine_info()`` for the metrics files.

Training on CPU is bitwise reproducible only on the same CPU kernels with the same thread count
(docs/lab-notes.md, 2026-12-01): PyTorch picks its vectorised kernels (AVX2, AVX-512, AMX) and MKL/oneDNN
their code paths from the CPU, and a different path sums in another order. A figure that moved on
another machine is only explained if the metrics say which CPU, which instruction sets, how many
threads and which library versions produced it.
"""
from __future__ import annotations

import os
import platform
import sys
from importlib import metadata
from pathlib import Path

# The CPU flags that change which kernels torch, MKL and oneDNN run (the rest of /proc/cpuinfo's list does not).
KERNEL_FLAGS = ("avx", "avx2", "fma", "f16c", "avx_vnni", "avx512f", "avx512bw", "avx512vl", "avx512_vnni",
                "avx512_bf16", "avx512_fp16", "amx_tile", "amx_bf16", "amx_int8", "neon", "asimd", "sve")
PACKAGES = ("torch", "transformers", "numpy", "accelerate", "tokenizers")
THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "ATEN_CPU_CAPABILITY", "MKL_ENABLE_INSTRUCTIONS",
               "DNNL_MAX_CPU_ISA")


def _cpuinfo(path: Path) -> tuple[str | None, list[str]]:
    """``(model name, kernel-relevant flags)`` from Linux's ``/proc/cpuinfo`` (its first processor)."""
    model, flags = None, []
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:  # not Linux, or no /proc: the caller falls back to platform
        return None, []
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip().lower()
        if key in ("model name", "hardware", "cpu model") and model is None:
            model = value.strip() or None
        elif key in ("flags", "features") and not flags:
            present = set(value.split())
            flags = [f for f in KERNEL_FLAGS if f in present]
        if model and flags:
            break
    return model, flags


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def machine_info(cpuinfo: str | os.PathLike = "/proc/cpuinfo") -> dict:
    """The machine and software that produced a result, as a JSON-able dict.

    ``cpu``: model name; ``cpu_flags``: the instruction sets in ``KERNEL_FLAGS`` the CPU has (Linux only,
    else []); ``torch_cpu_capability``: the kernel set torch actually dispatches to (e.g. ``AVX512``);
    ``logical_cores`` (``os.cpu_count``) and ``usable_cores`` (this process's affinity); ``torch_threads``
    (``torch.get_num_threads()`` now: call it after the run has set its threads); ``env``: the thread and
    kernel variables that are set; ``versions`` of ``PACKAGES`` (None when not installed); ``platform``
    and ``python``.
    """
    import torch

    model, flags = _cpuinfo(Path(cpuinfo))
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {
        "cpu": model or platform.processor() or platform.machine(),
        "cpu_flags": flags,
        "torch_cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "logical_cores": os.cpu_count(),
        "usable_cores": usable,
        "torch_threads": torch.get_num_threads(),
        "env": {k: os.environ[k] for k in THREAD_VARS if k in os.environ},
        "versions": {p: _version(p) for p in PACKAGES},
        "platform": platform.platform(),
        "python": sys.version.split()[0],
    }


__all__ = ["KERNEL_FLAGS", "machine_info"]
