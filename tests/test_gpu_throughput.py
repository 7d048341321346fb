"""benchmarks/gpu_throughput.py: its CPU path with a tiny Qwen2-shaped student (no GPU is needed to test it)."""
import importlib.util
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("gpu_throughput", ROOT / "benchmarks" / "gpu_throughput.py")
gpu_throughput = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(gpu_throughput)


def test_cpu_path_measures_every_method_and_both_generators(capsys):
    result = gpu_throughput.main(["--shape", "tiny", "--steps", "2", "--questions", "8", "--batch-tokens", "512",
                                  "--eval-batch", "4", "--max-new-tokens", "4"])
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1]) == result
    assert set(result["train"]) == {"std_cot", "mcc_kd", "mind"}
    for figures in result["train"].values():
        assert figures["tokens_per_s"] > 0 and figures["mfu"] is None and figures["steps"] == 3  # no GPU: no MFU
    assert result["eval"]["ours_tokens_per_s"] > 0 and result["eval"]["hf_generate_tokens_per_s"] > 0
    assert result["eval"]["vllm"] == "not installed"
