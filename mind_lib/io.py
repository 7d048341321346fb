"""JSON / JSONL (and CSV) reading and writing with errors that name the file, line and field; project paths.

Every file the pipeline reads goes through here, so a malformed row is reported as
``data/x.jsonl:17: field 'gold': missing`` instead of a traceback deep inside a library.
Appends are flushed and fsynced per batch so that a crash loses at most the batch in flight.
Stages write their outputs under ``output_lock``, so that two runs never write the same files.
"""
from __future__ import annotations

import csv
import json
import os
import re
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence

ENV_OUT_ROOT = "MIND_OUT_ROOT"


class DataError(ValueError):
    """Bad input data: the message names the file, the line (1-based) and the field."""

    def __init__(self, path: str | os.PathLike, line: int | None, field: str | None, problem: str):
        where = f"{path}" + (f":{line}" if line is not None else "")
        what = f" field '{field}':" if field else ""
        super().__init__(f"{where}:{what} {problem}")
        self.path, self.line, self.field, self.problem = str(path), line, field, problem


class StageError(RuntimeError):
    """A stage stopped for a reason the user resolves (run it again, wait for the other run, fix the teachers):
    the CLI prints the message in one line and exits 2, as for bad input."""


LOCK_FILE = ".lock"


@contextmanager
def output_lock(folder: str | os.PathLike) -> Iterator[Path]:
    """Hold ``<folder>/.lock`` while a stage writes into ``folder``; yields the folder (created if missing).

    A second writer is refused at once (``StageError``: "another run holds <lock> (pid N)") rather than
    waiting or writing the same files twice. The lock is the operating system's (``filelock``), so a killed
    holder frees it; the holder's pid is written beside it (``.lock.pid``: the lock file itself is truncated
    by every attempt to take it) so that the message can name it.
    """
    from filelock import FileLock, Timeout

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path, pid_file = folder / LOCK_FILE, folder / (LOCK_FILE + ".pid")
    lock = FileLock(path)
    try:
        lock.acquire(timeout=0)
    except Timeout:
        holder = pid_file.read_text().strip() if pid_file.exists() else "unknown"
        raise StageError(f"another run holds {path} (pid {holder}); wait for it to finish, or stop it") from None
    try:
        pid_file.write_text(str(os.getpid()))
        yield folder
    finally:
        pid_file.unlink(missing_ok=True)
        lock.release()  # the lock file stays: removing it could let two later runs each lock a different file


def check_fields(row: Any, required: Mapping[str, type | tuple[type, ...]], path, line: int | None,
                 nonblank: Iterable[str] = ()) -> dict:
    """Check that ``row`` is an object holding every ``required`` field with an allowed type, and that the
    ``nonblank`` fields (strings) hold more than whitespace."""
    if not isinstance(row, dict):
        raise DataError(path, line, None, f"expected a JSON object, got {type(row).__name__}")
    for name, types in required.items():
        if name not in row:
            raise DataError(path, line, name, "missing")
        if not isinstance(row[name], types):
            allowed = types if isinstance(types, tuple) else (types,)
            raise DataError(path, line, name,
                            f"expected {' or '.join(t.__name__ for t in allowed)}, got {type(row[name]).__name__} "
                            f"({row[name]!r:.60})")
    for name in nonblank:
        if not str(row.get(name, "")).strip():
            raise DataError(path, line, name, f"empty text ({row.get(name)!r})")
    return row


def read_jsonl(path: str | os.PathLike, required: Mapping[str, type | tuple[type, ...]] | None = None,
               tolerate_truncated_tail: bool = False, nonblank: Iterable[str] = (),
               check: Callable[[dict, int], None] | None = None) -> list[dict]:
    """Read a JSONL file; every row must be an object with the ``required`` fields, the ``nonblank``
    ones holding more than whitespace.

    ``tolerate_truncated_tail``: a last line without a newline that does not parse is the
    trace of a crash mid-write; it is dropped instead of raising (used when resuming).
    ``check``: called with each row (its fields checked) and its line number in the file; it raises a
    ``DataError`` for a row the reader refuses (e.g. a duplicate, or a row of another world).
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file")
    text = path.read_text(encoding="utf-8")
    lines = text.split("\n")
    rows = []
    for i, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            is_tail = i == len(lines) and not text.endswith("\n")
            if tolerate_truncated_tail and is_tail:
                break
            raise DataError(path, i, None, f"not valid JSON ({e.msg} at column {e.colno})") from None
        if required or nonblank:
            check_fields(row, required or {}, path, i, nonblank)
        if check is not None:
            check(row, i)
        rows.append(row)
    return rows


def iter_json_records(path: str | os.PathLike) -> Iterator[tuple[int, Any]]:
    """Yield ``(line_number, record)`` from a JSON list file or a JSONL file (decided by content).

    For a JSON list the "line" is the 1-based index of the element, which is what a user
    needs to find the record in a pretty-printed file.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file")
    text = path.read_text(encoding="utf-8")
    stripped = text.lstrip()
    if stripped.startswith("[") or (stripped.startswith("{") and _is_single_json(stripped)):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise DataError(path, e.lineno, None, f"not valid JSON ({e.msg})") from None
        if isinstance(data, dict):
            yield 1, data
            return
        for i, rec in enumerate(data, start=1):
            yield i, rec
        return
    for i, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            yield i, json.loads(line)
        except json.JSONDecodeError as e:
            raise DataError(path, i, None, f"not valid JSON ({e.msg} at column {e.colno})") from None


def iter_csv_records(path: str | os.PathLike, columns: Sequence[str] = ()) -> Iterator[tuple[int, dict]]:
    """Yield ``(line_number, row)`` from a CSV file with a header row; the line is where the row
    starts (a quoted field may span lines). The header must name every one of ``columns``."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file")
    with open(path, newline="", encoding="utf-8-sig") as f:  # -sig: spreadsheet exports start with a BOM
        reader = csv.DictReader(f)
        header = reader.fieldnames
        if header is None:
            return  # an empty file: no records
        for column in columns:
            if column not in header:
                shown = ", ".join(map(repr, header[:12])) + (", ..." if len(header) > 12 else "")
                raise DataError(path, 1, column, f"missing column (the header has {len(header)}: {shown})")
        start = reader.line_num + 1
        for row in reader:
            yield start, row
            start = reader.line_num + 1


def _is_single_json(text: str) -> bool:
    try:
        json.loads(text)
        return True
    except json.JSONDecodeError:
        return False


def write_jsonl(path: str | os.PathLike, rows: Iterable[Mapping]) -> Path:
    """Write rows atomically (temp file + rename): readers never see half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    os.replace(tmp, path)
    return path


def append_jsonl(path: str | os.PathLike, rows: Sequence[Mapping]) -> None:
    """Append rows and fsync, so that what returned is on disk even if the process is killed next."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
        f.flush()
        os.fsync(f.fileno())


def repair_truncated_tail(path: str | os.PathLike) -> bool:
    """Cut a partial last line (a crash mid-append) so that appending can resume cleanly.

    Returns True when something was cut.
    """
    path = Path(path)
    if not path.exists() or path.stat().st_size == 0:
        return False
    data = path.read_bytes()
    if data.endswith(b"\n"):
        return False
    keep = data.rfind(b"\n") + 1
    with open(path, "r+b") as f:
        f.truncate(keep)
    return True


def read_json(path: str | os.PathLike) -> Any:
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise DataError(path, e.lineno, None, f"not valid JSON ({e.msg})") from None


def write_json(path: str | os.PathLike, obj: Any) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(obj, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return path


def file_digest(path: str | os.PathLike) -> str:
    """First 16 hex digits of a file's sha256, read in 1 MiB chunks."""
    import hashlib

    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()[:16]


def folder_digest(folder: str | os.PathLike) -> str:
    """Digest of a model folder's weights (``*.safetensors``, ``*.bin``): which model a cached result came from."""
    files = sorted(p for pattern in ("*.safetensors", "*.bin") for p in Path(folder).glob(pattern))
    if not files:
        raise FileNotFoundError(f"{folder}: no model weights (*.safetensors or *.bin)")
    return "".join(file_digest(f) for f in files)


def resolve_path(root: str | os.PathLike, path: str | os.PathLike) -> Path:
    """``path`` as given when absolute, else relative to ``root`` (params name paths relative to the repository)."""
    path = Path(path)
    return path if path.is_absolute() else Path(root) / path


def find_repo_root(start: str | os.PathLike | None = None) -> Path:
    """The nearest folder at or above ``start`` (default: cwd) holding ``params.yaml`` and ``dvc.yaml``.

    Notebooks run with their own folder as cwd (nbmake, JupyterLab) or the repo root (dvc/papermill);
    both find the same root this way.
    """
    here = Path(start or os.getcwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "params.yaml").exists() and (folder / "dvc.yaml").exists():
            return folder
    raise FileNotFoundError(f"no params.yaml + dvc.yaml at or above {here}: run from inside the MIND repository")


# ---------------------------------------------------------------------------------------------
# Path rules. Every file layout the stages share is decided here (``Paths`` and the functions it uses), so
# that no stage builds another stage's paths by hand.
# ---------------------------------------------------------------------------------------------

TRAINING_DIR = "training"
_SEED_DIR = re.compile(r"seed(\d+)")
PREDICTION_META_SUFFIX = ".meta.json"


def run_folder(models: str | os.PathLike, method: str, seed: int) -> Path:
    """Where one distilled student lives: ``<models>/distilled/<method>/seed<k>/`` (HF folder + ``training/``).

    (``distilled/`` keeps the runs apart from ``models/student_base``: DVC outputs may not nest.)"""
    return Path(models) / "distilled" / method / f"seed{seed}"


def feature_cache_folder(models: str | os.PathLike) -> Path:
    """MIND's encoder vectors, shared by every MIND run of the grid: ``<models>/distilled/_metanet_cache/``."""
    return Path(models) / "distilled" / "_metanet_cache"


def training_dir(model_dir: str | os.PathLike) -> Path:
    """``<model>/training/``: a trained model's log, summary, checkpoints and records (``mind_lib.trainer``)."""
    return Path(model_dir) / TRAINING_DIR


def training_log(model_dir: str | os.PathLike) -> Path:
    """``<model>/training/log.jsonl``: one row per logged step (``event: train``), MIND's dynamics included."""
    return training_dir(model_dir) / "log.jsonl"


def training_summary(model_dir: str | os.PathLike) -> Path:
    """``<model>/training/summary.json``: the finished (or stopped) run's summary."""
    return training_dir(model_dir) / "summary.json"


def world_marker(model_dir: str | os.PathLike) -> Path:
    """``<run>/training/world.sha``: the fingerprint of the world a run was trained on (``distill(world=...)``);
    the evaluate stage refuses a run whose world is not the current one."""
    return training_dir(model_dir) / "world.sha"


def base_student_marker(model_dir: str | os.PathLike) -> Path:
    """``<run>/training/base_student.sha``: the digest of the base student's weights a grid run started from."""
    return training_dir(model_dir) / "base_student.sha"


def prediction_file(root: str | os.PathLike, method: str, seed: int, suite: str) -> Path:
    """``<root>/<method>/seed<seed>/<suite>.jsonl`` (root: e.g. ``reports/predictions``)."""
    return Path(root) / method / f"seed{seed}" / f"{suite}.jsonl"


def prediction_meta_file(predictions: str | os.PathLike) -> Path:
    """The record beside a prediction file: ``<suite>.jsonl`` -> ``<suite>.meta.json`` (what produced it)."""
    predictions = Path(predictions)
    return predictions.with_name(predictions.name.removesuffix(".jsonl") + PREDICTION_META_SUFFIX)


def prediction_files(root: str | os.PathLike) -> dict[tuple[str, int, str], Path]:
    """Every ``<root>/<method>/seed<k>/<suite>.jsonl`` as ``{(method, k, suite): path}`` (sorted by path)."""
    files = {}
    for path in sorted(Path(root).glob("*/seed*/*.jsonl")):
        m = _SEED_DIR.fullmatch(path.parent.name)
        if m:
            files[(path.parent.parent.name, int(m.group(1)), path.stem)] = path
    return files


@dataclass(frozen=True)
class Paths:
    """Where each stage reads and writes. ``root`` is the repo root, or ``$MIND_OUT_ROOT`` for
    tests and nbmake so that they never write over the pipeline's own outputs."""

    root: Path

    def __post_init__(self):
        object.__setattr__(self, "root", Path(self.root))

    @classmethod
    def resolve(cls, out_root: str | os.PathLike | None = None) -> "Paths":
        chosen = out_root or os.environ.get(ENV_OUT_ROOT) or find_repo_root()
        return cls(Path(chosen).resolve())

    @property
    def world(self) -> Path:
        return self.root / "data" / "world"

    @property
    def rationales(self) -> Path:
        return self.root / "data" / "rationales"

    @property
    def models(self) -> Path:
        return self.root / "models"

    @property
    def metrics(self) -> Path:
        return self.root / "reports" / "metrics"

    @property
    def figures(self) -> Path:
        return self.root / "reports" / "figures"

    @property
    def base_student(self) -> Path:
        """The student every method starts from (the pretrain stage's output)."""
        return self.root / "models" / "student_base"

    @property
    def predictions(self) -> Path:
        return self.root / "reports" / "predictions"

    def training_record(self, method: str, seed: int) -> Path:
        """A run's training log and summary as committed in git (``reports/training/<method>/seed<k>/``): what
        the report and notebooks read, so a clone draws the curves without the models."""
        return self.root / "reports" / "training" / method / f"seed{seed}"

    @property
    def plots(self) -> Path:
        """Plot data (CSV) that ``dvc plots`` renders."""
        return self.root / "reports" / "plots"

    @property
    def feature_cache(self) -> Path:
        """MIND's encoder vectors, shared by every MIND run of the grid: ``models/distilled/_metanet_cache/``."""
        return feature_cache_folder(self.models)

    def run_dir(self, method: str, seed: int) -> Path:
        """One distilled student: ``models/distilled/<method>/seed<k>/`` (``run_folder``)."""
        return run_folder(self.models, method, seed)

    def world_split(self, split: str) -> Path:
        """One split of the data stage: ``data/world/<split>.jsonl``."""
        return self.world / f"{split}.jsonl"

    def rationale_file(self, split: str) -> Path:
        """The rationale rows distillation reads for one split: ``data/rationales/<split>.jsonl``."""
        return self.rationales / f"{split}.jsonl"

    def self_consistency_file(self, method: str, seed: int, suite: str) -> Path:
        """Self-consistency rows of one (student, suite): ``reports/predictions/<method>/seed<k>/self_consistency/
        <suite>.jsonl`` (beside the greedy ones, out of ``prediction_files``' reach)."""
        return prediction_file(self.predictions, method, seed, suite).parent / "self_consistency" / f"{suite}.jsonl"

    def prediction_file(self, method: str, seed: int, suite: str) -> Path:
        """``reports/predictions/<method>/seed<k>/<suite>.jsonl`` (``prediction_file``)."""
        return prediction_file(self.predictions, method, seed, suite)

    def prediction_meta(self, method: str, seed: int, suite: str) -> Path:
        """``reports/predictions/<method>/seed<k>/<suite>.meta.json``: what produced the prediction file."""
        return prediction_meta_file(self.prediction_file(method, seed, suite))

    @property
    def summary_file(self) -> Path:
        """The evaluate stage's summary metrics: ``reports/metrics/summary.json``."""
        return self.metrics / "summary.json"

    @property
    def latent_file(self) -> Path:
        """The latent stage's metrics: ``reports/metrics/latent.json``."""
        return self.metrics / "latent.json"
