"""Wall time and peak memory of the pipeline from a clean state, per stage.

Clones the committed repository into a temporary folder beside it (so ``../shared`` resolves as in
the repository), uses this checkout's ``.venv``, runs the documented command of the profile (default:
``dvc repro``; another profile: ``mind exp NAME``, as in the README), then ``dvc repro``
again (which must be a no-op). Peak memory is the largest resident set of any process of the run
(``getrusage(RUSAGE_CHILDREN)``); the per-stage times come from the stages' start lines.

    python benchmarks/pipeline_time.py [--profile paper] [--set ++distill.seeds=[0]] [--keep]

``--set`` adds ``-S KEY=VALUE`` overrides to ``dvc exp run`` after the profile's own (a one-seed paper run measures the cost
per seed: distillation and evaluation scale with the number of seeds, world/collect/pretrain do not).

The last stdout line is one JSON object with the figures.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def timed(cmd: list[str], cwd: Path, env: dict) -> tuple[float, list[tuple[float, str]]]:
    """Run ``cmd``; returns its wall time and (seconds since start, line) for each 'Running stage' line."""
    t0 = time.perf_counter()
    marks = []
    with subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) as p:
        for line in p.stdout:
            sys.stderr.write(line)
            m = re.match(r"Running stage '([^']+)'", line)
            if m:
                marks.append((time.perf_counter() - t0, m.group(1)))
        if p.wait() != 0:
            raise SystemExit(f"{' '.join(cmd)} failed with exit code {p.returncode}")
    return time.perf_counter() - t0, marks


def repro_command(profile: str, overrides: list[str]) -> list[str]:
    """The README's command for ``profile``: ``dvc repro`` for the default, ``mind exp PROFILE`` (plus each ``-S``
    override for ``dvc exp run``) otherwise."""
    if profile == "default" and not overrides:
        return ["dvc", "repro"]
    return ["mind", "exp", profile] + [a for kv in overrides for a in ("-S", kv)]


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--keep", action="store_true", help="keep the clone (its reports/) afterwards")
    p.add_argument("--profile", default="default", help="a profile of profiles/ (default: params.yaml as `dvc repro` runs it)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="a dvc exp run -S override")
    args = p.parse_args(argv)
    command = repro_command(args.profile, args.set)
    clone = Path(tempfile.mkdtemp(prefix="pipeline-time-", dir=ROOT.parent))
    subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
    # PYTHONPATH: the clone's own mind_lib, not the one this checkout's .venv has installed in editable mode
    env = {**os.environ, "PATH": f"{ROOT / '.venv' / 'bin'}{os.pathsep}{os.environ['PATH']}", "OMP_NUM_THREADS": "1",
           "PYTHONPATH": str(clone)}
    env.pop("MIND_PROFILE", None)
    env.pop("MIND_OUT_ROOT", None)
    try:
        wall, marks = timed(command, clone, env)
        noop, _ = timed(["dvc", "repro"], clone, env)
    finally:
        if not args.keep:
            shutil.rmtree(clone, ignore_errors=True)
    ends = [t for t, _ in marks[1:]] + [wall]
    stages = {name: round(end - start, 1) for (start, name), end in zip(marks, ends)}
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    if args.keep:
        print(f"kept: {clone}", file=sys.stderr)
    print(json.dumps({"profile": args.profile, "command": " ".join(command), "repro_wall_s": round(wall, 1), "noop_repro_wall_s": round(noop, 1),
                      "noop_over_full": round(noop / wall, 4), "peak_rss_mb": round(peak_mb, 1),
                      "stages_s": stages, "cores": os.cpu_count()}))


if __name__ == "__main__":
    main()
