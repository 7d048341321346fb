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
    """The notebooks run in pipeline order (01 collect, 02 distill, 03 evaluate, 04 latent, 05 report)
    against the temporary root; the two CLI stages between them (world before 01, pretrain before 02)
    are run here once, as `dvc repro` would."""
    from mind_lib.cli import main
    from mind_lib.io import Paths

    paths = Paths.resolve()
    if not (paths.world / "manifest.json").exists():
        assert main(["world"]) == 0
    if not (paths.models / "student_base" / "model.safetensors").exists():
        assert main(["pretrain"]) == 0
