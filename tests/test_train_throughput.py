"""The throughput benchmark runs end to end on a toy size and ends with one JSON line of figures."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "train_throughput.py"


@pytest.mark.slow
def test_benchmark_prints_its_figures_as_the_last_line():
    proc = subprocess.run([sys.executable, str(SCRIPT), "--questions", "6", "--batch-size", "4"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    figures = json.loads(proc.stdout.strip().splitlines()[-1])
    assert figures["items"] == 6 * 8 and figures["tokens"] > 0  # six questions in the eight paradigms
    for name in ("ours", "hf", "hf_grouped"):
        assert figures[f"{name}_tokens_per_s"] > 0 and figures[f"{name}_peak_rss_mb"] > 0
    ratio = figures["ours_tokens_per_s"] / figures["hf_tokens_per_s"]
    assert figures["speedup_vs_hf"] == pytest.approx(ratio, rel=1e-3)
    assert figures["padding_ours"] < figures["padding_random_batches"]
