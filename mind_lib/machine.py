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
THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "ATEN_CPU_CAPABILITY", "MKL_CBWR", "MKL_ENABLE_INSTRUCTIONS",
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


# Pinned kernel paths (pin_cpu_kernels): ATen's AVX2 kernels exist on every x86-64 CPU since ~2015, and MKL's
# conditional-reproducibility branch for AVX2 (Intel CPUs; on others MKL keeps its own choice).
PINNED_KERNELS = {"ATEN_CPU_CAPABILITY": "avx2", "MKL_CBWR": "AVX2"}


def pin_cpu_kernels(cpuinfo: str | os.PathLike = "/proc/cpuinfo") -> dict[str, str]:
    """Run torch's AVX2 kernels (and MKL's AVX2 branch) even on AVX-512 CPUs, so that x86 machines of different
    generations train the same weights; returns the variables this call set.

    Why: the same pretraining on AVX-512 and AVX2 kernels differs by 1e-7 after 30 steps and by 0.1 (eval
    loss 0.48 vs 0.59) after 300 (docs/lab-notes.md, 2026-12-01); threads and output roots change nothing.
    Measured cost: none (300 steps in 41-45 s either way). Must run before torch's first CPU kernel (torch
    reads the variable once); child processes (papermill kernels, grid workers) inherit it. A value the
    user set wins; CPUs without AVX2 (e.g. ARM) are left alone. Not a promise across CPU vendors' MKL paths,
    torch versions or architectures: ``mind verify`` compares reruns within an interval for that reason.
    """
    _, flags = _cpuinfo(Path(cpuinfo))
    if "avx2" not in flags:
        return {}
    chosen = {k: v for k, v in PINNED_KERNELS.items() if k not in os.environ}
    os.environ.update(chosen)
    return chosen


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


__all__ = ["KERNEL_FLAGS", "PINNED_KERNELS", "machine_info", "pin_cpu_kernels"]
