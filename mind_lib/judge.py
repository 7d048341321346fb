"""An optional LLM judge of the collected rationales (``collect.judge``, docs/method.md §1.3).

Without it the gold check alone decides: ``correct`` is ``extract_answer`` of the rationale against the gold
answer (``mind_lib.rationales.make_row``). With it, a model behind an OpenAI-compatible endpoint is asked about
every row that check passed, with the question, the gold answer and the rationale, whether the rationale's
final answer is correct, replying yes or no. Only those rows: a row whose extracted answer is wrong stays
wrong (the judge cannot overrule the gold answer); what the judge can catch is an answer line the extractor
read as right although the rationale does not commit to it (a hedge, a self-contradiction, a second answer).

- A reply counts by its first word: ``yes`` keeps the row; ``no``, and anything else (``unclear``, kept with
  the reply), rejects it: the training files hold only what the judge confirmed.
- A rejected row gets ``correct: false``; every judged row gets a ``judge`` field with the verdict. That is in
  the rows ``run_collection`` writes to ``<split>.jsonl`` and returns; ``collected.jsonl`` keeps the raw rows.
- Verdicts are appended batch by batch (fsynced) to ``judged.jsonl`` beside the collection, keyed by the row
  key, a hash of the text the judge read and the judge's fingerprint (model, endpoint, prompt, settings): a
  rerun asks only for rows without a verdict, and a new rationale under an old key or another judge is asked
  again. Older verdicts stay in the file (collected work is never rewritten).
- A row whose request failed after the client's retries gets no verdict; the stage then fails naming how many,
  with every verdict so far kept, and the next run asks for the rest.

The requests, retries and concurrency are ``OpenAICompatTeacher``'s (greedy, ``max_new_tokens`` small by
default); only the messages differ. Like the teacher backends, the HTTP client is imported only when a judge is
configured.
"""
from __future__ import annotations

import functools
import hashlib
import logging
import re
from pathlib import Path
from typing import Any, Sequence

from tqdm.auto import tqdm

from mind_lib.collect import teacher_fingerprint
from mind_lib.params.collect import JudgeParams, TeacherSpec
from mind_lib.io import append_jsonl, read_jsonl, repair_truncated_tail
from mind_lib.rationales import row_key
from mind_lib.tasks.base import Example
from mind_lib.teachers.base import spec_kwargs

log = logging.getLogger(__name__)

JUDGED_FILE = "judged.jsonl"
"""The verdict cache, in the rationales folder next to ``collected.jsonl``."""
JUDGE_MAX_NEW_TOKENS = 8
"""Default reply budget: one word is asked for (``options.max_new_tokens`` raises it, e.g. for a model
that thinks aloud first)."""

JUDGE_SYSTEM = ("You check the final answers of worked solutions. You are given a question, its reference "
                "answer and a solution. Decide whether the final answer the solution commits to equals the "
                "reference answer; differences of format or units do not matter, the quality of the reasoning "
                "does not matter, and a solution that hedges between answers or gives none is not correct. "
                "Reply with exactly one word: yes if the final answer is correct, no otherwise.")
_VERDICT = re.compile(r"^\W*(yes|no)\b", re.IGNORECASE)
CACHE_FIELDS: dict[str, type | tuple[type, ...]] = {
    "question_id": str, "teacher": str, "perspective": str, "sample": int, "content": str, "judge": str,
    "verdict": str, "reply": str,
}


def judge_request(row: dict) -> str:
    """The user turn the judge reads for one rationale row."""
    return (f"Question:\n{row['question']}\n\nReference answer: {row['gold']}\n\nSolution:\n{row['rationale']}\n\n"
            "Is the final answer of the solution correct? Reply yes or no.")


JUDGE_PROMPT_VERSION = "judge-" + hashlib.sha256(
    (JUDGE_SYSTEM + judge_request({"question": "", "gold": "", "rationale": ""})).encode()).hexdigest()[:8]
"""The judge's prompt in its provenance: a hash of the wording, so rewording it asks every row again."""


def parse_verdict(reply: str) -> str:
    """``yes`` or ``no`` from the reply's first word, else ``unclear``."""
    m = _VERDICT.match(reply)
    return m.group(1).lower() if m else "unclear"


@functools.cache
def judge_client_class() -> type:
    """``JudgeClient``: ``OpenAICompatTeacher`` asking the judge's question (``Example.question`` holds
    ``judge_request``); built on first use so that the gold check alone never imports the HTTP client."""
    from mind_lib.teachers.openai_compat import OpenAICompatTeacher

    class JudgeClient(OpenAICompatTeacher):
        def messages(self, example: Example) -> list[dict[str, str]]:
            return [{"role": "system", "content": JUDGE_SYSTEM}, {"role": "user", "content": example.question}]

        def provenance(self) -> dict[str, Any]:
            return {**super().provenance(), "prompt": JUDGE_PROMPT_VERSION}

    return JudgeClient


def build_judge(cfg: JudgeParams):
    """The judge ``collect.judge`` describes, greedy; an unknown option is an error naming the allowed ones."""
    cls = judge_client_class()
    spec = TeacherSpec(name="collect.judge", backend="openai", model=cfg.model, base_url=cfg.base_url,
                       api_key_env=cfg.api_key_env, temperature=0.0, options=cfg.options)
    kwargs = spec_kwargs(spec, cls, model=cfg.model, name="collect.judge", perspective="judge",
                         base_url=cfg.base_url, api_key_env=cfg.api_key_env, temperature=0.0)
    kwargs.setdefault("max_new_tokens", JUDGE_MAX_NEW_TOKENS)
    return cls(**kwargs)


def _content_hash(row: dict) -> str:
    return hashlib.sha256(judge_request(row).encode()).hexdigest()[:12]


def _read_cache(path: Path, fingerprint: str) -> dict[tuple, dict]:
    """This judge's verdicts in ``path``: (row key, content hash) -> cache entry."""
    if not path.exists():
        return {}
    if repair_truncated_tail(path):
        log.warning("%s: cut a half-written last line left by an interrupted run", path)
    return {(row_key(e), e["content"]): e for e in read_jsonl(path, required=CACHE_FIELDS)
            if e["judge"] == fingerprint}


def judge_rows(rows: Sequence[dict], cfg: JudgeParams | None, cache_path: str | Path, batch_size: int = 64,
               progress: bool = True) -> list[dict]:
    """The rows after the judge: ``rows`` as they are when ``cfg`` is None (the gold check alone), else copies
    of the rows the gold check passed carrying the judge's verdict (module docstring); ``rows`` are not changed.

    Raises ``RuntimeError`` when some rows got no verdict (endpoint failures); the verdicts so far are in
    ``cache_path``.
    """
    if cfg is None:
        return list(rows)
    cache_path = Path(cache_path)
    judge = build_judge(cfg)
    fingerprint = teacher_fingerprint(judge, 0)
    try:
        cache = _read_cache(cache_path, fingerprint)
        asked = [r for r in rows if r["correct"]]
        pending = [r for r in asked if (row_key(r), _content_hash(r)) not in cache]
        missing = []
        bar = tqdm(total=len(pending), desc="judge", disable=not progress, unit="row")
        for start in range(0, len(pending), batch_size):
            batch = pending[start:start + batch_size]
            examples = [Example("|".join(map(str, row_key(r))), judge_request(r), r["gold"], r["kind"], "judge")
                        for r in batch]
            replies = judge.generate(examples, 1, seed=0)
            entries = []
            for r, reply in zip(batch, replies):
                if reply is None:
                    missing.append(r)
                    continue
                qid, teacher, perspective, sample = row_key(r)
                entries.append({"question_id": qid, "teacher": teacher, "perspective": perspective,
                                "sample": sample, "content": _content_hash(r), "judge": fingerprint,
                                "verdict": parse_verdict(reply[0]), "reply": reply[0]})
            append_jsonl(cache_path, entries)  # on disk before the next batch is asked for
            cache.update({(row_key(e), e["content"]): e for e in entries})
            bar.update(len(batch))
        bar.close()
    finally:
        judge.close()
    if missing:
        raise RuntimeError(f"collect.judge: {len(missing)} of {len(asked)} rationales got no verdict from model "
                           f"{cfg.model!r} at {judge.base_url} (first: {'|'.join(map(str, row_key(missing[0])))}); "
                           f"the verdicts so far are kept in {cache_path}; run the stage again")

    out, counts = [], {"yes": 0, "no": 0, "unclear": 0}
    for r in rows:
        if not r["correct"]:
            out.append(r)
            continue
        verdict = cache[(row_key(r), _content_hash(r))]["verdict"]
        counts[verdict] = counts.get(verdict, 0) + 1
        judged = {**r, "judge": {"verdict": verdict, "model": cfg.model, "fingerprint": fingerprint}}
        if verdict != "yes":
            judged["correct"] = False
        out.append(judged)
    log.info("collect.judge: %d rationales confirmed, %d rejected, %d unclear replies (rejected)",
             counts["yes"], counts["no"], counts["unclear"])
    if counts["unclear"]:
        log.warning("collect.judge: %d replies were neither yes nor no and count as rejections; see %s",
                    counts["unclear"], cache_path)
    return out
