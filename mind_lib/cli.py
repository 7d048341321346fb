"""Command line: each pipeline stage, the notebooks, and the tools around them.

    mind world|collect|pretrain|distill|evaluate|latent|report [--profile P] [--out-root DIR]
                                                    run one stage (``mind_lib.stages.<stage>.run_<stage>``)
    mind distill --method M --seed S --out DIR      one distillation run (also under ``accelerate launch``)
    mind notebook NAME [-p KEY VALUE ...]           execute notebooks/NAME.ipynb with papermill into
                                                    reports/notebooks/NAME.ipynb (what dvc.yaml runs)
    mind params [--profile P] [--explain SECTION]   validate params.yaml (and document a section's fields)
    mind exp [--dry-run] PROFILE [DVC ARGS ...]     run a profile as a DVC experiment (dvc exp run -S ...)
    mind results                                    refresh README's results block from the committed summary
    mind verify --committed SUMMARY|DIR --rerun DIR does a rerun reproduce the committed data and figures

Stage modules are imported by the command that runs them, so this module's own imports stay light (it is a
DVC dependency of every stage).
"""
from __future__ import annotations

import argparse
import json
import logging
import sys

from mind_lib.io import StageError
from mind_lib.machine import pin_cpu_kernels

STAGES = ("world", "collect", "pretrain", "distill", "evaluate", "latent", "report")


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--params", default=None, help="params file (default: the repo's params.yaml)")
    p.add_argument("--profile", default=None, help="a profile of profiles/ (default: $MIND_PROFILE, else params.yaml)")
    p.add_argument("--out-root", default=None, help="where data/, models/, reports/ go (default: $MIND_OUT_ROOT or repo)")


def cmd_params(args) -> int:
    from mind_lib.params.all import explain, load_params

    if args.explain:
        print(explain(args.explain))
        return 0
    print(json.dumps(load_params(args.params, args.profile).to_dict(), indent=2))
    return 0


def cmd_stage(args) -> int:
    import importlib

    if args.command == "distill" and args.method:
        from mind_lib.cli_distill import cmd_distill

        return cmd_distill(args)
    stage = importlib.import_module(f"mind_lib.stages.{args.command}")
    params, paths = stage.load(args.profile, args.out_root, args.params)
    run = getattr(stage, f"run_{args.command}")
    extra = {k: getattr(args, k) for k in ("out", "max_steps", "resume") if args.command == "pretrain"}
    result = run(params, paths, **extra)
    print(f"{args.command} ({params.profile}) -> {paths.root}: "
          + (json.dumps(result) if args.command in ("world", "pretrain") else "done"))
    return 0


def cmd_notebook(args) -> int:
    import papermill

    from mind_lib.io import Paths, find_repo_root

    root = find_repo_root()
    source = root / "notebooks" / f"{args.name}.ipynb"
    if not source.exists():
        names = sorted(p.stem for p in (root / "notebooks").glob("*.ipynb"))
        raise FileNotFoundError(f"{source}: no such notebook; available: {', '.join(names)}")
    target = Paths.resolve(args.out_root).root / "reports" / "notebooks" / source.name
    target.parent.mkdir(parents=True, exist_ok=True)
    parameters = {k: v for k, v in (args.parameter or [])}
    # The python3 kernel is the interpreter running this command (the project's .venv).
    papermill.execute_notebook(str(source), str(target), parameters=parameters, kernel_name="python3",
                               cwd=str(root), progress_bar=not args.quiet, log_output=False)
    print(f"executed {source.name} -> {target}")
    if args.html:
        from nbconvert import HTMLExporter

        html_path = Paths.resolve(args.out_root).root / args.html
        html_path.parent.mkdir(parents=True, exist_ok=True)
        body, _ = HTMLExporter(exclude_input_prompt=True, exclude_output_prompt=True).from_filename(str(target))
        html_path.write_text(body, encoding="utf-8")
        print(f"rendered {target.name} -> {html_path}")
    return 0


def cmd_exp(args) -> int:
    """``dvc exp run`` with the profile's overrides as ``-S`` arguments (params.yaml is rewritten by DVC)."""
    import os
    import subprocess
    from pathlib import Path

    from mind_lib.config import dvc_overrides, read_profile
    from mind_lib.io import find_repo_root

    root = find_repo_root()
    overrides = dvc_overrides(read_profile(root / "params.yaml", args.profile))
    command = [sys.executable, "-m", "dvc", "exp", "run", "--name", args.profile,
               *[a for o in overrides for a in ("-S", o)], *args.dvc_args]
    print(" ".join(command[1:]), flush=True)
    # the stages' `mind` commands are this interpreter's: its folder goes first on PATH (no activated venv needed)
    env = {**os.environ, "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])}
    return 0 if args.dry_run else subprocess.call(command, cwd=root, env=env)


def cmd_results(args) -> int:
    from mind_lib.io import Paths, find_repo_root, read_json
    from mind_lib.report import readme_block, update_readme_block

    summary = read_json(Paths.resolve(args.out_root).metrics / "summary.json")
    readme = find_repo_root() / "README.md"
    if not update_readme_block(readme, readme_block(summary)):
        raise ValueError(f"{readme}: no <!-- results:start --> ... <!-- results:end --> block")
    print(f"{readme}: results block refreshed from reports/metrics/summary.json")
    return 0


def cmd_verify(args) -> int:
    from mind_lib.verify import verify

    return verify(args.committed, args.rerun)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mind", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    for stage in STAGES:
        p = sub.add_parser(stage, help=f"run the {stage} stage")
        _common(p)
        p.set_defaults(func=cmd_stage)
        if stage == "pretrain":
            p.add_argument("--out", default=None, help="output HF folder (default: models/student_base under the root)")
            p.add_argument("--max-steps", type=int, default=None, help="stop after N optimizer steps (resumable)")
            p.add_argument("--resume", action="store_true", help="continue from the last checkpoint in --out")
        if stage == "distill":  # with --method: one run into --out, not the stage (mind_lib/cli_distill.py)
            p.add_argument("--method", default=None, help="one run of this method (an unknown name lists them)")
            p.add_argument("--seed", type=int, default=0, help="run seed (data order, dropout, LoRA init)")
            p.add_argument("--out", default=None, help="with --method: the run's folder (model + training/)")
            p.add_argument("--student", default=None, help="student folder to start from (default: the base student)")
            p.add_argument("--train-split", default="train", help="world split (and rationale file) to train on")
            p.add_argument("--eval-split", default="feedback", help="split for the eval loss; '' = none")
            p.add_argument("--max-steps", type=int, default=None, help="stop after N optimizer steps (resumable)")
            p.add_argument("--resume", action="store_true", help="continue from the last checkpoint in --out")
    p = sub.add_parser("params", help="validate params.yaml and print the resolved values")
    _common(p)
    p.add_argument("--explain", default=None, help="document one section's fields")
    p.set_defaults(func=cmd_params)
    p = sub.add_parser("notebook", help="execute a pipeline notebook with papermill")
    p.add_argument("name", help="notebook name without .ipynb, e.g. 01_collect_rationales")
    p.add_argument("-p", "--parameter", nargs=2, action="append", metavar=("KEY", "VALUE"),
                   help="papermill parameter (string value)")
    p.add_argument("--out-root", default=None, help="where reports/notebooks/ goes (default: $MIND_OUT_ROOT or repo)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--html", default=None, help="also render the executed notebook to this HTML file "
                                                 "(relative to the output root), e.g. reports/index.html")
    p.set_defaults(func=cmd_notebook)
    p = sub.add_parser("exp", help="run a profile of profiles/ as a DVC experiment")
    p.add_argument("profile", help="a profile file's name, e.g. paper")
    p.add_argument("dvc_args", nargs=argparse.REMAINDER, help="more arguments for dvc exp run")
    p.add_argument("--dry-run", action="store_true", help="print the dvc command only")
    p.set_defaults(func=cmd_exp)
    p = sub.add_parser("results", help="refresh README's results block from reports/metrics/summary.json")
    p.add_argument("--out-root", default=None, help="where reports/ is (default: $MIND_OUT_ROOT or repo)")
    p.set_defaults(func=cmd_results)
    p = sub.add_parser("verify", help="compare a rerun's data hashes and figures with the committed ones")
    p.add_argument("--committed", required=True,
                   help="the committed summary.json, or a folder holding summary.json and/or dvc.lock "
                        "(or reports/metrics/summary.json, dvc.lock, data/)")
    p.add_argument("--rerun", required=True, help="the rerun's output root (data/, reports/metrics/summary.json)")
    p.set_defaults(func=cmd_verify)
    return parser


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    # before any command imports torch: the same CPU kernels on every x86 machine (mind_lib/machine.py)
    pin_cpu_kernels()
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    # bad input, or a stage that stopped for a reason the user resolves: one clear line, no deep traceback
    except (ValueError, FileNotFoundError, StageError) as e:
        print(f"mind {args.command}: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
