"""``machine_info``: the CPU, its kernel-relevant flags, threads and versions that go into the metrics."""
import json
import os

import torch

from mind_lib.machine import KERNEL_FLAGS, PINNED_KERNELS, THREAD_VARS, machine_info, pin_cpu_kernels

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
    for name in THREAD_VARS:  # `mind` commands run in this process (conftest) pin some of them
        monkeypatch.delenv(name, raising=False)
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


def test_pin_cpu_kernels_sets_avx2_on_x86_and_respects_the_users_choice(tmp_path, monkeypatch):
    for name in PINNED_KERNELS:
        monkeypatch.delenv(name, raising=False)
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(CPUINFO)
    assert pin_cpu_kernels(cpuinfo) == {"ATEN_CPU_CAPABILITY": "avx2", "MKL_CBWR": "AVX2"}
    assert machine_info(cpuinfo)["env"].items() >= {"ATEN_CPU_CAPABILITY": "avx2", "MKL_CBWR": "AVX2"}.items()
    monkeypatch.setenv("ATEN_CPU_CAPABILITY", "avx512")
    monkeypatch.delenv("MKL_CBWR")
    assert pin_cpu_kernels(cpuinfo) == {"MKL_CBWR": "AVX2"}  # the user's value wins
    assert machine_info(cpuinfo)["env"]["ATEN_CPU_CAPABILITY"] == "avx512"


def test_pin_cpu_kernels_leaves_cpus_without_avx2_alone(tmp_path, monkeypatch):
    for name in PINNED_KERNELS:
        monkeypatch.delenv(name, raising=False)
    arm = tmp_path / "cpuinfo"
    arm.write_text("processor\t: 0\nFeatures\t: fp asimd evtstrm aes sve\nCPU part\t: 0xd40\n")
    assert pin_cpu_kernels(arm) == {} and pin_cpu_kernels(tmp_path / "none") == {}
    assert not set(PINNED_KERNELS) & set(os.environ)
