"""The world stage: the embedded world's splits, or published rationales and public benchmarks (``data/world``)."""
from __future__ import annotations

from mind_lib.io import Paths, find_repo_root
from mind_lib.params.world import WorldParams
from mind_lib.stages import open_stage

PARAMS = ("world",)


def load(profile=None, out_root=None, params_file=None):
    return open_stage({"world": WorldParams}, PARAMS, profile, out_root, params_file)


def run_world(params, paths: Paths) -> dict:
    """Write ``data/world``; returns the number of questions per split."""
    if params.world.source == "public":
        from mind_lib.tasks.public import build_public_data, save_public_data

        return save_public_data(*build_public_data(params.world.public, find_repo_root()), paths.world)
    from mind_lib.tasks.world import generate_world, save_world

    return save_world(generate_world(params.world), paths.world)
