"""The MIND overhead benchmark runs end to end on a toy size and ends with one JSON line of figures."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "mind_overhead.py"


@pytest.mark.slow
def test_benchmark_prints_mind_over_mcc_kd_as_the_last_line():
    proc = subprocess.run([sys.executable, str(SCRIPT), "--questions", "12", "--budget", "12000", "--batch-size", "8",
                           "--repeats", "1"], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    figures = json.loads(proc.stdout.strip().splitlines()[-1])
    assert figures["ratio_mind_over_mcc_kd"] == pytest.approx(
        figures["mind_s_per_ktoken"] / figures["mcc_kd_s_per_ktoken"], rel=1e-2)
    assert figures["target_tokens"]["mind"] >= 12000 and figures["target_tokens"]["mcc_kd"] >= 12000
    assert figures["mind_setup_s"] > 0
