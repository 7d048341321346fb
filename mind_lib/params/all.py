"""Every section's model by name, for what reads the whole params file: ``mind params``, tests and scripts. The
stages import only their own sections' models (``mind_lib.stages``), so a change here reruns no stage."""
from __future__ import annotations

from pathlib import Path

from mind_lib import config
from mind_lib.config import Params, Section
from mind_lib.params.collect import CollectParams
from mind_lib.params.distill import DistillParams
from mind_lib.params.evaluate import EvaluateParams, check_reference
from mind_lib.params.latent import LatentParams
from mind_lib.params.student import StudentParams
from mind_lib.params.train import TrainParams
from mind_lib.params.world import WorldParams

SECTIONS: dict[str, type[Section]] = {
    "world": WorldParams, "collect": CollectParams, "student": StudentParams, "pretrain": TrainParams,
    "distill": DistillParams, "evaluate": EvaluateParams, "latent": LatentParams,
}
assert tuple(SECTIONS) == config.SECTION_NAMES


def load_params(path: str | Path | None = None, profile: str | None = None,
                sections: tuple[str, ...] | None = None) -> Params:
    """``config.load_params`` for the named sections (default: all), with the checks across sections."""
    names = tuple(SECTIONS) if sections is None else sections
    unknown = [n for n in names if n not in SECTIONS]
    if unknown:
        raise ValueError(f"unknown section(s) {unknown}; sections: {', '.join(SECTIONS)}")
    params = config.load_params(path, profile, {n: SECTIONS[n] for n in names})
    if "evaluate" in names:
        runs = (params.distill if "distill" in names else config.load_params(path, profile, {"distill": DistillParams})
                .distill).runs
        check_reference(params.evaluate.reference, runs, str(path or "params.yaml"))
    return params


def explain(name: str) -> str:
    if name not in SECTIONS:
        raise ValueError(f"unknown section {name!r}; sections: {', '.join(SECTIONS)}")
    return config.explain(name, SECTIONS[name])
