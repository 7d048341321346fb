"""Test-wide set-up: the smoke profile, and a temporary output root so that tests and nbmake never
write over the pipeline's own data/, models/ or reports/."""
import os
import tempfile

# Set before any notebook kernel starts: nbmake kernels inherit this process's environment.
os.environ.setdefault("MIND_PROFILE", "smoke")
os.environ.setdefault("MIND_OUT_ROOT", tempfile.mkdtemp(prefix="mind-test-root-"))
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def pytest_sessionstart(session):
    """The notebooks run in pipeline order against the temporary root; stage 0 (the world) is a CLI
    step, not a notebook, so it is made here once."""
    from mind_lib.config import load_params
    from mind_lib.io import Paths
    from mind_lib.tasks.world import generate_world, save_world

    paths = Paths.resolve()
    if not (paths.world / "manifest.json").exists():
        save_world(generate_world(load_params().world), paths.world)
