"""The optimizer benchmark runs on a toy size and ends with one JSON line of figures."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "optimizer_step.py"


def test_benchmark_prints_its_figures_as_the_last_line():
    env = dict(os.environ, MIND_PROFILE="smoke")
    proc = subprocess.run([sys.executable, str(SCRIPT), "--steps", "3", "--warmup", "1", "--seq-len", "8"],
                          capture_output=True, text=True, timeout=300, env=env, cwd=SCRIPT.parents[1])
    assert proc.returncode == 0, proc.stderr[-2000:]
    figures = json.loads(proc.stdout.strip().splitlines()[-1])
    assert figures["fused"] is True and figures["steps"] == 3
    for name in ("trainer", "for_loop", "foreach"):
        assert figures[f"{name}_forward_backward_ms"] > 0 and figures[f"{name}_clip_step_ms"] > 0
    ratio = figures["trainer_clip_step_ms"] / figures["for_loop_clip_step_ms"]
    assert figures["clip_step_trainer_over_for_loop"] == pytest.approx(ratio, abs=2e-3)
