"""``machine_info``: the CPU, its kernel-relevant flags, threads and versions that go into the metrics."""
import json

import torch

from mind_lib.machine import KERNEL_FLAGS, machine_info

CPUINFO = """processor\t: 0
vendor_id\t: AuthenticAMD
model name\t: AMD EPYC 7B13 64-Core Processor
flags\t\t: fpu sse sse2 avx avx2 fma avx512f avx512_bf16 amx_tile sha_ni erms

processor\t: 1
model name\t: AMD EPYC 7B13 64-Core Processor
flags\t\t: fpu sse sse2 avx avx2 fma avx512f avx512_bf16 amx_tile sha_ni erms
"""


def test_machine_info_reads_the_cpu_model_and_only_kernel_flags(tmp_path):
    path = tmp_path / "cpuinfo"
    path.write_text(CPUINFO)
    info = machine_info(path)
    assert info["cpu"] == "AMD EPYC 7B13 64-Core Processor"
    # in KERNEL_FLAGS' order; sse, sha_ni, erms are not kernel choices
    assert info["cpu_flags"] == ["avx", "avx2", "fma", "avx512f", "avx512_bf16", "amx_tile"]
    assert set(info["cpu_flags"]) <= set(KERNEL_FLAGS)


def test_machine_info_reports_threads_versions_and_is_json(tmp_path, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    info = machine_info(tmp_path / "no-such-cpuinfo")  # not Linux: the model comes from platform, no flags
    assert info["cpu"] and info["cpu_flags"] == []
    assert info["torch_threads"] == torch.get_num_threads()
    assert info["torch_cpu_capability"] == torch.backends.cpu.get_cpu_capability()
    assert info["logical_cores"] >= info["usable_cores"] >= 1
    assert info["env"] == {"OMP_NUM_THREADS": "3"}
    assert info["versions"]["torch"] == torch.__version__
    assert set(info["versions"]) >= {"torch", "transformers", "numpy"}
    assert json.loads(json.dumps(info)) == info
