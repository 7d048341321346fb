"""Calibrate the embedded world and the training budget: distil some methods, evaluate them, check the criteria.

world -> collect -> pretrain the tiny student (or start from ``--base-student``) -> distil each method (two at
a time, one torch thread each, in spawned child processes) -> evaluate each trained student (in the same child,
right after its training) -> a table and, as the last stdout line, one JSON object with every figure.

    python benchmarks/calibrate.py EXPERIMENT.yaml --tune [--base-student models/student_base]
        [--out DIR] [--workers 2] [--methods m1,m2] [--eval-n N] [--keep]

``--tune`` is how settings are chosen: it reads no test split. ID accuracy is read on the ``feedback`` split
and OOD accuracy on the OOD splits of a dev world drawn with another seed (``world.seed`` + 1000); the general
suite (forgetting) is not read. Without ``--tune`` the script evaluates on ``test_id``, the OOD splits and
``general_test`` of the reported world: for checking a chosen setting, never for choosing one.

The settings YAML has the layout of params.yaml (``world``, ``collect``, ``student``, ``pretrain``,
``distill``; absent sections = the library's defaults), plus optional:

- ``methods``: the methods to distil (default: ``mind_lib.distill.DEFAULT_RUNS``);
- ``eval``: ``{max_new_tokens, batch_size, n_test}``; ``n_test`` evaluates only the first N questions of
  each suite (a cheaper, noisier estimate); ``max_new_tokens`` null = derived from the longest
  training rationale (scaled to the OOD-steps length).

Criteria checked (the comparison protocol, docs/method.md §6): no chain-of-thought student above 95% ID; on
every OOD split, some chain-of-thought student above 20%.
"""
from __future__ import annotations

import argparse
import concurrent.futures as cf
import json
import multiprocessing as mp
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import yaml

from mind_lib.distill import replay_examples

from mind_lib.params.distill import DEFAULT_RUNS
from mind_lib.strategies.registry import get_strategy
from mind_lib.tasks.world import SKILLS

OOD_SPLITS = ("ood_steps", "ood_templates", "ood_distractor", "ood_numbers")
DEV_SEED_OFFSET = 1000  # --tune: the OOD splits are drawn again from this world seed, not the test world's
GENERAL_NEW_TOKENS = 64  # a worked two-step story with its answer line; 24 cut those short (docs/lab-notes.md, 2026-11-29)
LATENT_ALLOWANCE_S = 120  # the latent analysis stage is not run here; the brief budgets ~2 min for it
TARGETS = {"id_max": 0.95, "ood_split_min": 0.20}
NO_COT = ("answer_only", "dss")  # label-only inference: exempt from the difficulty band


# ----------------------------------------------------------------------------------------------
# settings


def load_settings(path: str | Path) -> dict:
    """Validate every section with the library's own models; returns the validated objects."""
    # the model classes directly (not config.validate_section / load_params: the section registry
    # there may name sections of modules that are still being written)
    from mind_lib.config import read_yaml
    from mind_lib.params.collect import CollectParams
    from mind_lib.params.world import WorldParams
    from mind_lib.params.distill import DistillParams
    from mind_lib.params.student import StudentParams
    from mind_lib.params.train import TrainParams

    raw = read_yaml(path) or {}
    if "collect" not in raw:  # the library requires an explicit teacher list: use params.yaml's
        from mind_lib.io import find_repo_root

        raw["collect"] = (read_yaml(find_repo_root() / "params.yaml") or {})["collect"]
    return {
        "world": WorldParams.model_validate(raw.get("world") or {}),
        "collect": CollectParams.model_validate(raw["collect"]),
        "student": StudentParams.model_validate(raw.get("student") or {}),
        "pretrain": TrainParams.model_validate(raw.get("pretrain") or {}),
        "distill": DistillParams.model_validate(raw.get("distill") or {}),
        "methods": list(raw.get("methods") or DEFAULT_RUNS),
        "eval": {"max_new_tokens": None, "batch_size": 64, "n_test": None, **(raw.get("eval") or {})},
        "raw": raw,
    }


# ----------------------------------------------------------------------------------------------
# evaluation (used by the parent for the base student and by every worker)


def _acc(rows) -> float:
    return sum(r["correct"] for r in rows) / max(1, len(rows))


def eval_sources(world_dir: Path, tune: bool, dev_world: Path | None = None) -> dict[str, tuple[str, str]]:
    """What each reported suite reads: ``{label: (folder, split)}``. Tuning reads the feedback split for ID and
    the dev world's OOD splits, and no test split of the reported world."""
    if tune:
        return {"id": (str(world_dir), "feedback"), **{x: (str(dev_world), x) for x in OOD_SPLITS}}
    return {"id": (str(world_dir), "test_id"), **{x: (str(world_dir), x) for x in OOD_SPLITS},
            "general_test": (str(world_dir), "general_test")}


def evaluate_model(model_dir: Path, sources: dict[str, tuple[str, str]], method: str | None, max_new_tokens: int,
                   batch_size: int, n_test: int | None) -> dict:
    """Accuracy per suite (``sources``: label -> (world folder, split)), general per skill. Method suites use the
    method's prompt (dss: ``[label]``); the general suite is asked with the plain prompt the base student was
    pretrained with."""
    from mind_lib.evaluate import evaluate_suite
    from mind_lib.formatting import format_prompt
    from mind_lib.strategies.registry import get_strategy
    from mind_lib.student import load_student
    from mind_lib.tasks.world import load_split

    model, tok = load_student(model_dir, dtype="float32")
    prompt = get_strategy(method).prompt if method else format_prompt
    out: dict = {}
    for suite, (folder, split) in sources.items():
        exs = load_split(Path(folder), split)
        if n_test and suite != "general_test":
            exs = exs[:n_test]
        rows = evaluate_suite(model, tok, exs, format_prompt if suite == "general_test" else prompt,
                              max_new_tokens if suite != "general_test" else GENERAL_NEW_TOKENS, batch_size)
        out[suite] = _acc(rows)
        if suite == "general_test":
            for sk in SKILLS:
                out[f"general/{sk}"] = _acc([r for r in rows if r.get("skill") == sk])
        if suite in ("id", "ood_steps"):
            # how far beyond training: accuracy per number of steps
            for n in sorted({r.get("n_steps") for r in rows}):
                out[f"{suite}/{n}"] = _acc([r for r in rows if r.get("n_steps") == n])
        if suite == "id":
            out["sample_output"] = " ".join(rows[0]["output"].split())[:300]
    return out


# ----------------------------------------------------------------------------------------------
# one distillation run (a spawned child process)


def _quiet() -> None:
    import transformers

    transformers.utils.logging.disable_progress_bar()
    transformers.utils.logging.set_verbosity_error()


def _init_worker() -> None:
    os.environ["OMP_NUM_THREADS"] = "1"
    os.environ["MKL_NUM_THREADS"] = "1"
    os.environ["TOKENIZERS_PARALLELISM"] = "false"
    import torch

    torch.set_num_threads(1)
    torch.set_num_interop_threads(1)
    _quiet()


def run_method(method: str, root: str, settings_path: str, max_new_tokens: int,
               sources: dict[str, tuple[str, str]]) -> dict:
    import logging

    logging.basicConfig(level=logging.WARNING)
    from mind_lib.distill import distill
    from mind_lib.rationales import load_rationales
    from mind_lib.tasks.world import load_split
    from mind_lib.params.train import TrainParams

    s = load_settings(settings_path)
    root_p = Path(root)
    world, rat = root_p / "data" / "world", root_p / "data" / "rationales"
    params = TrainParams.model_validate(s["distill"].train.model_dump() | {
        "num_threads": 1, "progress": False, "save_every": 0, "cpu": True, "mixed_precision": "no"})
    out_dir = root_p / "models" / method
    t0 = time.perf_counter()
    summary = distill(method, params.seed, out_dir, train_examples=load_split(world, "train"),
                      rows=load_rationales(rat / "train.jsonl"), eval_examples=load_split(world, "feedback"),
                      eval_rows=load_rationales(rat / "feedback.jsonl"), student=s["student"], params=params,
                      options=s["distill"].methods.get(method), student_path=root_p / s["student"].path,
                      replay_examples=replay_examples(world, params))
    t_train = time.perf_counter() - t0
    t0 = time.perf_counter()
    acc = evaluate_model(out_dir, sources, method, max_new_tokens, s["eval"]["batch_size"], s["eval"]["n_test"])
    t_eval = time.perf_counter() - t0
    items = summary.get("train_items") or {}
    return {"method": method, "acc": acc, "train_s": t_train, "eval_s": t_eval, "steps": summary["steps"],
            "target_tokens": summary["target_tokens"], "epochs": summary.get("epochs"),
            "items": items.get("items"), "eval_loss": summary.get("eval_loss"), "pid": os.getpid()}


# ----------------------------------------------------------------------------------------------
# the pipeline


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("settings")
    ap.add_argument("--out", default=None, help="work folder (default: a temp folder, removed unless --keep)")
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--methods", default=None, help="comma list; overrides the settings' methods")
    ap.add_argument("--eval-n", type=int, default=None, help="overrides eval.n_test")
    ap.add_argument("--pretrain-threads", type=int, default=2)
    ap.add_argument("--reuse-base", default=None, help="work folder of an earlier run: reuse its world, "
                    "rationales and base student (no world/collect/pretrain stage; their times are then 0)")
    ap.add_argument("--pretrain-only", action="store_true", help="stop after the base student's evaluation")
    ap.add_argument("--base-student", default=None, help="a pretrained student folder to start from: world and "
                    "collect run, pretraining does not (refused unless its general_train suite is this world's)")
    ap.add_argument("--tune", action="store_true", help="read no test split: evaluate on the feedback split and on "
                    f"the OOD splits of a dev world (world.seed + {DEV_SEED_OFFSET}), never on test_id or general_test")
    args = ap.parse_args(argv)

    settings_path = Path(args.settings).resolve()
    s = load_settings(settings_path)
    if args.methods:
        s["methods"] = args.methods.split(",")
    if args.eval_n is not None:
        s["eval"]["n_test"] = args.eval_n
        s["raw"].setdefault("eval", {})["n_test"] = args.eval_n
    # the workers re-read the settings: give them the effective ones
    root = Path(args.out or tempfile.mkdtemp(prefix="mind_calib_")).resolve()
    root.mkdir(parents=True, exist_ok=True)
    eff = root / "settings.yaml"
    eff.write_text(yaml.safe_dump(s["raw"], sort_keys=False))

    from mind_lib.machine import pin_cpu_kernels

    pin_cpu_kernels()  # the kernels the pipeline (`mind`) runs, before torch's first CPU kernel
    import torch

    torch.set_num_threads(args.pretrain_threads)
    _quiet()
    from mind_lib.collect import run_collection, teacher_summary
    from mind_lib.pretrain import pretrain_student
    from mind_lib.io import Paths
    from mind_lib.rationales import load_rationales
    from mind_lib.student import load_student
    from mind_lib.tasks.world import generate_world, load_split, save_world
    from mind_lib.params.train import TrainParams

    paths = Paths(root)
    times: dict[str, float] = {}
    t_all = time.perf_counter()
    if args.reuse_base:
        src = Path(args.reuse_base)
        shutil.copytree(src / "data", root / "data", dirs_exist_ok=True)
        shutil.copytree(src / s["student"].path, root / s["student"].path, dirs_exist_ok=True)
        times.update(world=0.0, collect=0.0, pretrain=0.0)
    else:
        t0 = time.perf_counter()
        counts = save_world(generate_world(s["world"]), paths.world)
        times["world"] = time.perf_counter() - t0
        print(f"world: {counts} ({times['world']:.1f} s)", flush=True)

        t0 = time.perf_counter()
        run_collection(SimpleNamespace(collect=s["collect"]), paths, progress=False)
        times["collect"] = time.perf_counter() - t0
        print(f"collect: {times['collect']:.1f} s", flush=True)

    rows = load_rationales(paths.rationales / "collected.jsonl")
    teachers = {t["teacher"]: {"accuracy": round(t["accuracy"], 3), "mean_words": round(t["mean_words"], 1)}
                for t in teacher_summary(rows)}
    print("teachers:", json.dumps(teachers), flush=True)

    student = s["student"]
    base_dir = root / student.path
    if args.base_student:
        # pretraining reads the general_train suite (and the world's words): reuse only a student of the same
        src = Path(args.base_student)
        src_general = src.parent.parent / "data" / "world" / "general_train.jsonl"
        if not src_general.exists() or src_general.read_bytes() != (paths.world / "general_train.jsonl").read_bytes():
            raise SystemExit(f"--base-student {src}: its pretraining suite {src_general} is missing or differs from "
                             "this world's general_train split; pretrain instead")
        shutil.copytree(src, base_dir, dirs_exist_ok=True)
        times["pretrain"] = 0.0
    elif not args.reuse_base:
        t0 = time.perf_counter()
        pp = TrainParams.model_validate(s["pretrain"].model_dump() | {
            "num_threads": args.pretrain_threads, "progress": False, "save_every": 0, "cpu": True,
            "mixed_precision": "no"})
        pre = pretrain_student(base_dir, examples=load_split(paths.world, "general_train"),
                               texts=[e.question for e in load_split(paths.world, "train")],
                               vocab_texts=[r["rationale"] for r in load_rationales(paths.rationales / "train.jsonl")],
                               eval_examples=load_split(paths.world, "general_test"), student=student, params=pp)
        times["pretrain"] = time.perf_counter() - t0
        print(f"pretrain: {pre['steps']} steps, {pre['target_tokens']} target tokens, "
              f"{pre.get('epochs', 0):.2f} epochs, eval_loss {pre.get('eval_loss')}, {times['pretrain']:.1f} s",
              flush=True)

    # max_new_tokens: longest training rationale (tokens) scaled to the OOD-steps length, + margin
    _, tok = load_student(base_dir)
    max_new = s["eval"]["max_new_tokens"]
    if not max_new:
        longest = max(len(tok(" " + r["rationale"], add_special_tokens=False)["input_ids"])
                      for r in load_rationales(paths.rationales / "train.jsonl"))
        scale = s["world"].ood_steps[1] / s["world"].id_steps[1]
        max_new = int(longest * scale) + 16
    print(f"max_new_tokens: {max_new}", flush=True)

    dev_world = None
    if args.tune:
        dev_world = root / "dev_world"
        dev = generate_world(s["world"].model_copy(update={"seed": s["world"].seed + DEV_SEED_OFFSET}))
        save_world({x: dev[x] for x in OOD_SPLITS}, dev_world)
    sources = eval_sources(paths.world, args.tune, dev_world)
    print("evaluated on: " + ", ".join(f"{k} <- {Path(f).name}/{x}" for k, (f, x) in sources.items()), flush=True)

    t0 = time.perf_counter()
    if args.tune:  # the general suite is a test split (forgetting): not read while tuning
        base_acc = {}
    else:
        base_acc = evaluate_model(base_dir, {"general_test": sources["general_test"]}, None, GENERAL_NEW_TOKENS,
                                  s["eval"]["batch_size"], s["eval"]["n_test"])
        print("base general: " + ", ".join(f"{sk} {base_acc[f'general/{sk}']:.3f}" for sk in SKILLS), flush=True)
    times["eval_base"] = time.perf_counter() - t0

    if args.pretrain_only:
        print(json.dumps({"settings": str(settings_path), "teachers": teachers, "base": base_acc, "times_s": times}))
        return 0
    # longest first (the distill stage's order), so that the workers finish together
    methods = sorted(s["methods"], key=lambda m: -get_strategy(m, s["distill"].methods.get(m)).relative_cost)
    results: dict[str, dict] = {}
    t0 = time.perf_counter()
    with cf.ProcessPoolExecutor(max_workers=args.workers, mp_context=mp.get_context("spawn"),
                                initializer=_init_worker) as pool:
        futs = {pool.submit(run_method, m, str(root), str(eff), max_new, sources): m for m in methods}
        for f in cf.as_completed(futs):
            m = futs[f]
            try:
                results[m] = f.result()
            except Exception as e:  # report and go on: one broken method should not hide the others
                results[m] = {"method": m, "error": repr(e)}
                print(f"{m}: FAILED {e!r}", flush=True)
                continue
            r = results[m]
            print(f"{m}: train {r['train_s']:.0f} s ({r['steps']} steps, {r['epochs']:.2f} epochs), "
                  f"eval {r['eval_s']:.0f} s, ID {r['acc']['id']:.3f}", flush=True)
    times["distill_eval"] = time.perf_counter() - t0
    times["latent_allowance"] = LATENT_ALLOWANCE_S
    times["total"] = time.perf_counter() - t_all + LATENT_ALLOWANCE_S

    # ---- table
    base_gen = {sk: base_acc[f"general/{sk}"] for sk in SKILLS} if base_acc else {}
    base_gen_all = base_acc.get("general_test")
    table = {}
    for m in methods:
        r = results[m]
        if "error" in r:
            table[m] = {"error": r["error"]}
            continue
        a = r["acc"]
        ood_mean = sum(a[x] for x in OOD_SPLITS) / len(OOD_SPLITS)
        general = {f"gen_{sk}": a[f"general/{sk}"] for sk in SKILLS} if "general_test" in a else {}
        table[m] = {"id": a["id"], **{x: a[x] for x in OOD_SPLITS}, "ood_mean": ood_mean, **general,
                    "general": a.get("general_test"),
                    "forgetting": None if base_gen_all is None else base_gen_all - a["general_test"],
                    "by_steps": {k: v for k, v in a.items() if k.startswith(("id/", "ood_steps/"))},
                    "train_s": r["train_s"], "eval_s": r["eval_s"], "steps": r["steps"], "epochs": r["epochs"],
                    "target_tokens": r["target_tokens"], "eval_loss": r["eval_loss"],
                    "sample_output": a.get("sample_output")}
    gen_cols = SKILLS if base_gen else ()
    hdr = (f"{'method':<24}{'ID':>6}{'steps':>7}{'tmpl':>6}{'dist':>6}{'nums':>6}{'OODm':>6}"
           + "".join(f"{sk[:5]:>7}" for sk in gen_cols) + f"{'ep':>6}{'steps':>7}{'train':>7}{'eval':>6}")
    print(f"\n(ID = {sources['id'][1]}; OOD from {Path(sources['ood_steps'][0]).name})\n" + hdr)
    if base_gen:
        print(f"{'base':<24}{'':>36}" + "".join(f"{base_gen[sk]:>7.2f}" for sk in SKILLS))
    for m in methods:
        t = table[m]
        if "error" in t:
            print(f"{m:<24} ERROR {t['error'][:80]}")
            continue
        print(f"{m:<24}{t['id']:>6.2f}{t['ood_steps']:>7.2f}{t['ood_templates']:>6.2f}{t['ood_distractor']:>6.2f}"
              f"{t['ood_numbers']:>6.2f}{t['ood_mean']:>6.2f}" + "".join(f"{t['gen_' + sk]:>7.2f}" for sk in gen_cols)
              + f"{t['epochs']:>6.1f}{t['steps']:>7}{t['train_s']:>7.0f}{t['eval_s']:>6.0f}")
    print("times (s): " + ", ".join(f"{k} {v:.0f}" for k, v in times.items()))

    # the difficulty criteria of the comparison protocol (docs/method.md §6): no chain-of-thought student above
    # 95% ID, and on every OOD split at least one above 20%
    cot = {m: t for m, t in table.items() if "error" not in t and m not in NO_COT}
    ok_id = all(t["id"] <= TARGETS["id_max"] for t in cot.values())
    ok_ood = {x: max((t[x] for t in cot.values()), default=0.0) > TARGETS["ood_split_min"] for x in OOD_SPLITS}
    print(f"criteria: every CoT student ID <= {TARGETS['id_max']:.2f}: {ok_id}; some CoT student above "
          f"{TARGETS['ood_split_min']:.2f} on " + ", ".join(f"{x} {ok}" for x, ok in ok_ood.items())
          + f" (n per suite: {s['eval']['n_test'] or 'all'})")
    figures = {"settings": str(settings_path), "workdir": str(root), "teachers": teachers, "tune": args.tune,
               "sources": sources, "base_general": base_gen, "base_general_all": base_gen_all, "methods": table,
               "times_s": times, "max_new_tokens": max_new, "n_test": s["eval"]["n_test"],
               "criteria_met": {"id": ok_id, **ok_ood}}
    if not args.keep and not args.out:
        shutil.rmtree(root, ignore_errors=True)
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
