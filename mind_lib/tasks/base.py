"""The one example type shared by the embedded world and the public benchmarks, and the data stage's manifest."""
from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable, Literal

from mind_lib.io import DataError, file_digest, read_json, read_jsonl, write_json, write_jsonl

Kind = Literal["number", "yesno", "choice", "text", "math"]
KINDS: tuple[str, ...] = ("number", "yesno", "choice", "text", "math")


@dataclass(frozen=True)
class Example:
    """One question with its gold answer.

    ``answer`` is a string in canonical form: a number without trailing zeros ("12", "-3", "2.5"),
    "yes"/"no", a choice letter ("A".."E"), or for ``math`` the LaTeX answer ("\\frac{14}{3}").
    ``meta`` holds what the source knows beyond that (for the world: the step list, templates,
    skill; for benchmarks: the original record's ids).
    """

    id: str
    question: str
    answer: str
    kind: Kind
    split: str
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"Example {self.id}: kind must be one of {KINDS}, got {self.kind!r}")

    def to_row(self) -> dict:
        return asdict(self)


EXAMPLE_FIELDS = {"id": str, "question": str, "answer": str, "kind": str, "split": str, "meta": dict}


def save_examples(path: str | Path, examples: Iterable[Example]) -> Path:
    return write_jsonl(path, (e.to_row() for e in examples))


def load_examples(path: str | Path) -> list[Example]:
    rows = read_jsonl(path, required=EXAMPLE_FIELDS)
    out = []
    for i, row in enumerate(rows, start=1):
        if row["kind"] not in KINDS:
            raise DataError(path, i, "kind", f"must be one of {KINDS}, got {row['kind']!r}")
        out.append(Example(**{k: row[k] for k in EXAMPLE_FIELDS}))
    return out


MANIFEST = "manifest.json"


def data_fingerprint(folder: str | Path) -> str:
    """Hash of the data stage's files (every ``*.jsonl`` in ``folder``: the splits, and the published rationale
    rows of public data): which world a later stage's output was made from."""
    h = hashlib.sha256()
    for path in sorted(Path(folder).glob("*.jsonl")):
        h.update(f"{path.name}:{file_digest(path)}\n".encode())
    return h.hexdigest()[:16]


def write_manifest(folder: str | Path, counts: dict[str, int]) -> Path:
    """The data stage's ``manifest.json``: the row counts and the ``fingerprint`` of the files just written
    (collect stamps it into its rows, distill into its runs; later stages refuse what another world made)."""
    return write_json(Path(folder) / MANIFEST, {**counts, "fingerprint": data_fingerprint(folder)})


def world_fingerprint(folder: str | Path) -> str:
    """The fingerprint of the world in ``folder``: the one its manifest records, computed from the files for a
    world written before manifests held one (or without a manifest, e.g. a hand-made test world)."""
    manifest = Path(folder) / MANIFEST
    recorded = read_json(manifest).get("fingerprint") if manifest.exists() else None
    return recorded if isinstance(recorded, str) else data_fingerprint(folder)
