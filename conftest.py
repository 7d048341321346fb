"""Test-wide set-up: the smoke profile, and a temporary output root so that tests and nbmake never
write over the pipeline's own data/, models/ or reports/."""
import functools
import os
import tempfile

import pytest

# Set before any notebook kernel starts: nbmake kernels inherit this process's environment.
os.environ.setdefault("MIND_PROFILE", "smoke")
os.environ.setdefault("MIND_OUT_ROOT", tempfile.mkdtemp(prefix="mind-test-root-"))
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@functools.cache
def _world_and_pretrain():
    """The two CLI stages before the notebooks (world before 01, pretrain before 02), run once per session
    into ``$MIND_OUT_ROOT`` as `dvc repro` would; returns that root's ``Paths``. Only sessions that need them
    pay for them (``smoke_root``, notebook items)."""
    from mind_lib.cli import main
    from mind_lib.io import Paths

    paths = Paths.resolve()
    if not (paths.world / "manifest.json").exists():
        assert main(["world"]) == 0
    if not (paths.base_student / "model.safetensors").exists():
        assert main(["pretrain"]) == 0
    return paths


@pytest.fixture(scope="session")
def smoke_root():
    """``Paths`` of the session's output root holding the smoke world and the pretrained smoke student.
    Shared by every test that asks for it: copy what a test changes."""
    return _world_and_pretrain()


def pytest_runtest_setup(item):
    """The notebooks run in pipeline order (01 collect, 02 distill, 03 evaluate, 04 latent, 05 report)
    against the temporary root: world + pretrain first, once, before the first notebook."""
    if item.path.suffix == ".ipynb":
        _world_and_pretrain()
