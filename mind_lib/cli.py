"""Command line: the same entry points the notebooks call, for scripts and ``accelerate launch``.

    mind params [--profile P] [--explain SECTION]   validate params.yaml (and show field docs)
    mind world  [--profile P] [--out-root DIR]      generate the embedded world's splits
    mind collect [--profile P] [--out-root DIR]     collect rationales from the configured teachers
    mind notebook NAME [-p KEY VALUE ...]           execute notebooks/NAME.ipynb with papermill into
                                                    reports/notebooks/NAME.ipynb (what dvc.yaml runs)
    mind verify --committed SUMMARY|DIR --rerun DIR does a rerun reproduce the committed data and figures
                                                    (exit 2: a discrepancy; mind_lib/verify.py)
"""
from __future__ import annotations

import argparse
import json
import logging
import sys

from mind_lib.cli_distill import add_distill_parser, add_pretrain_parser
from mind_lib.config import PROFILES, SECTIONS, explain, load_params
from mind_lib.io import Paths, StageError
from mind_lib.machine import pin_cpu_kernels


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--params", default=None, help="params file (default: the repo's params.yaml)")
    p.add_argument("--profile", choices=PROFILES, default=None, help="overrides params.yaml's profile and $MIND_PROFILE")
    p.add_argument("--out-root", default=None, help="where data/, models/, reports/ go (default: $MIND_OUT_ROOT or repo)")


def cmd_params(args) -> int:
    params = load_params(args.params, args.profile)
    if args.explain:
        print(explain(args.explain))
    else:
        print(json.dumps(params.to_dict(), indent=2))
    return 0


def cmd_world(args) -> int:
    from mind_lib.tasks.world import generate_world, save_world

    params = load_params(args.params, args.profile, sections=("world",))
    paths = Paths.resolve(args.out_root)
    if params.world.source == "public":
        from mind_lib.io import find_repo_root
        from mind_lib.tasks.public import build_public_data, save_public_data

        counts = save_public_data(*build_public_data(params.world.public, find_repo_root()), paths.world)
    else:
        counts = save_world(generate_world(params.world), paths.world)
    print(f"world ({params.profile}) -> {paths.world}: {counts}")
    return 0


def cmd_collect(args) -> int:
    from mind_lib.collect import run_collection

    params = load_params(args.params, args.profile, sections=("world", "collect"))
    paths = Paths.resolve(args.out_root)
    result, rows = run_collection(params, paths)
    print(f"collect ({params.profile}): {result.written} new rows, {result.resumed} resumed, {len(rows)} in all")
    return 0


def cmd_notebook(args) -> int:
    import papermill

    from mind_lib.io import find_repo_root

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


def cmd_verify(args) -> int:
    from mind_lib.verify import verify

    return verify(args.committed, args.rerun)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mind", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("params", help="validate params.yaml and print the resolved values")
    _common(p)
    p.add_argument("--explain", choices=list(SECTIONS), default=None, help="document one section's fields")
    p.set_defaults(func=cmd_params)
    p = sub.add_parser("world", help="generate the embedded world")
    _common(p)
    p.set_defaults(func=cmd_world)
    p = sub.add_parser("collect", help="collect rationales (resumable)")
    _common(p)
    p.set_defaults(func=cmd_collect)
    p = sub.add_parser("notebook", help="execute a pipeline notebook with papermill")
    p.add_argument("name", help="notebook name without .ipynb, e.g. 01_collect_rationales")
    p.add_argument("-p", "--parameter", nargs=2, action="append", metavar=("KEY", "VALUE"),
                   help="papermill parameter (string value)")
    p.add_argument("--out-root", default=None, help="where reports/notebooks/ goes (default: $MIND_OUT_ROOT or repo)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--html", default=None, help="also render the executed notebook to this HTML file "
                                                 "(relative to the output root), e.g. reports/index.html")
    p.set_defaults(func=cmd_notebook)
    p = sub.add_parser("verify", help="compare a rerun's data hashes and figures with the committed ones")
    p.add_argument("--committed", required=True,
                   help="the committed summary.json, or a folder holding summary.json and/or dvc.lock "
                        "(or reports/metrics/summary.json, dvc.lock, data/)")
    p.add_argument("--rerun", required=True, help="the rerun's output root (data/, reports/metrics/summary.json)")
    p.set_defaults(func=cmd_verify)
    add_distill_parser(sub)
    add_pretrain_parser(sub)
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
