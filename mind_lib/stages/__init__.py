"""The pipeline's stages: one module per DVC stage, each with

- ``PARAMS``: the params keys it reads, exactly what its stage lists under ``params:`` in dvc.yaml;
- ``load(profile, out_root)``: those params, validated, and the output paths (``open_stage``);
- ``run_<stage>(params, paths)``: the stage itself, writing only its declared outputs.

The CLI (``mind <stage>``) and the notebooks only call these. A stage imports the library modules it uses and
nothing of another stage, so its DVC dependencies are exactly those modules (tests/test_dvc_stages.py).
"""
from __future__ import annotations

import os

from mind_lib.config import DEFAULT_PROFILE, ENV_PROFILE, Params, Section, load_params
from mind_lib.io import ENV_OUT_ROOT, Paths, find_repo_root


def open_stage(sections: dict[str, type[Section]], keys: tuple[str, ...], profile: str | None = None,
               out_root: str | os.PathLike | None = None, params_file: str | os.PathLike | None = None
               ) -> tuple[Params, Paths]:
    """The stage's params (``sections``: name -> model; ``keys``: its ``PARAMS``) and where it writes.

    A profile other than params.yaml's own (argument or ``$MIND_PROFILE``) writing into the repository would
    leave outputs that dvc.lock does not describe: refused, with the two ways to do it right.
    """
    params = load_params(params_file, profile, sections, keys)
    paths = Paths.resolve(out_root)
    if params.profile != DEFAULT_PROFILE and paths.root == find_repo_root():
        raise ValueError(f"profile {params.profile!r} (from {'--profile' if profile else '$' + ENV_PROFILE}) would write "
                         f"into the repository's DVC outputs under {paths.root}, which dvc.lock records for "
                         f"params.yaml; run it as an experiment (`make exp PROFILE={params.profile}`), or set "
                         f"${ENV_OUT_ROOT} (or --out-root) to a folder outside the repository")
    return params, paths

