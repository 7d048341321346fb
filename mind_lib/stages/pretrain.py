"""The pretrain stage: the base student every method starts from (``models/student_base``): the embedded tiny
Llama pretrained on the general suite and plain world text, or a local HF model copied as it is."""
from __future__ import annotations

import logging
import shutil

from mind_lib.io import Paths, find_repo_root, resolve_path
from mind_lib.params.student import StudentParams
from mind_lib.params.train import TrainParams
from mind_lib.stages import open_stage

PARAMS = ("student", "pretrain")
log = logging.getLogger(__name__)


def load(profile=None, out_root=None, params_file=None):
    return open_stage({"student": StudentParams, "pretrain": TrainParams}, PARAMS, profile, out_root, params_file)


def run_pretrain(params, paths: Paths, out=None, max_steps: int | None = None, resume: bool = False) -> dict:
    """Build and pretrain the tiny student (or copy ``student.path``) into ``out`` (default the base student)."""
    from mind_lib.pretrain import pretrain_student
    from mind_lib.rationales import load_rationales
    from mind_lib.tasks.world import load_split

    student, train = params.student, params.pretrain
    out = out or paths.base_student
    if student.source == "path":
        # a real student brings its own knowledge: the stage copies it to where every method starts from
        from mind_lib.student import check_model_folder

        source = check_model_folder(resolve_path(find_repo_root(), student.path), "student.path: ")
        shutil.copytree(source, out, dirs_exist_ok=True)
        if student.chat_template is False:  # the base student is evaluated too: it must prompt as the runs do
            from mind_lib.student import drop_chat_template

            drop_chat_template(out)
        return {"copied": str(source), "to": str(out)}
    if max_steps is not None:
        train = TrainParams.model_validate(train.model_dump() | {"max_steps": max_steps})
    vocab_file = paths.rationales / "train.jsonl"
    if not vocab_file.exists():  # the rationales' words only widen the vocabulary: go on without them
        log.warning("%s: missing (the training rationales; run the collect stage); going on without it", vocab_file)
    return pretrain_student(
        out, examples=load_split(paths.world, "general_train"),
        texts=[e.question for e in load_split(paths.world, "train")],
        vocab_texts=[r["rationale"] for r in load_rationales(vocab_file)] if vocab_file.exists() else [],
        eval_examples=load_split(paths.world, "general_test"), student=student, params=train, resume=resume)
