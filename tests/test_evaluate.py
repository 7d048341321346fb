"""Batched greedy generation, stopping at the answer sentence, scoring, prediction files, the evaluate stage's
skipping of finished work."""
import json
import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from transformers import LlamaConfig, LlamaForCausalLM

from mind_lib.evaluate import (AnswerLineStop, answer_line_end, evaluate_suite, generate_batched, load_prediction_tree,
                               load_predictions, pad_left, prompt_ids, save_predictions,
                               score_output, trim_to_answer)
from mind_lib.formatting import format_prompt
from mind_lib.io import DataError, Paths, prediction_file, world_marker
from mind_lib.stats import build_summary
from mind_lib.tasks.base import Example
from tests.distill_data import make_examples, make_rows, make_tokenizer

EXAMPLES = make_examples(8)


@pytest.fixture(scope="module")
def tok():
    return make_tokenizer(EXAMPLES, make_rows(EXAMPLES))


def random_llama(tok, seed=0):
    """A 2-layer Llama whose greedy outputs differ from prompt to prompt (init std 0.2, untied head)."""
    config = LlamaConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=128,
                         initializer_range=0.2, tie_word_embeddings=False, pad_token_id=tok.pad_token_id,
                         bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id)
    torch.manual_seed(seed)
    return LlamaForCausalLM(config).eval()


def prompts_of_many_lengths():
    return [format_prompt(" ".join(e.question.split()[: 3 + 2 * i])) for i, e in enumerate(EXAMPLES)]


def one_by_one(model, tok, prompts, max_new_tokens, stop=None):
    """Reference: ``model.generate`` on each prompt alone; the continuation is cut at its first eos."""
    eos = set(model.generation_config.eos_token_id if isinstance(model.generation_config.eos_token_id, list)
              else [model.generation_config.eos_token_id])
    outs = []
    for ids in prompt_ids(tok, prompts):
        criteria = [AnswerLineStop(tok, len(ids))] if stop else None
        g = model.generate(torch.tensor([ids]), max_new_tokens=max_new_tokens, do_sample=False,
                           pad_token_id=tok.pad_token_id, stopping_criteria=criteria)[0, len(ids):].tolist()
        cut = next((i for i, t in enumerate(g) if t in eos), len(g))
        text = tok.decode(g[:cut], skip_special_tokens=True)
        outs.append(trim_to_answer(text) if stop else text)
    return outs


@pytest.mark.parametrize("batch_size", [1, 3, 8])
def test_batched_equals_one_by_one_greedy(tok, batch_size):
    model = random_llama(tok)
    prompts = prompts_of_many_lengths()
    ref = one_by_one(model, tok, prompts, 16)
    assert len(set(ref)) == len(ref)  # the outputs depend on the prompt, so order and padding errors would show
    assert generate_batched(model, tok, prompts, 16, batch_size, stop_at_answer=False) == ref


def test_rows_finishing_early_leave_the_batch_without_changing_the_others(tok):
    model = random_llama(tok, seed=1)
    prompts = prompts_of_many_lengths()
    free = generate_batched(model, tok, prompts, 16, 8, stop_at_answer=False)
    # Make a token some rows produce early an extra eos: those rows stop at different steps.
    stop_word = max(free, key=len).split()[2]
    stop_id = tok(stop_word, add_special_tokens=False)["input_ids"][-1]
    model.generation_config.eos_token_id = [tok.eos_token_id, stop_id]
    ref = one_by_one(model, tok, prompts, 16)
    assert sum(len(r) < len(f) for r, f in zip(ref, free)) >= 2
    assert generate_batched(model, tok, prompts, 16, 8, stop_at_answer=False) == ref


def test_generation_restores_model_mode_and_leaves_the_tokenizer_alone(tok):
    model = random_llama(tok).train()
    generate_batched(model, tok, ["Mia has 3 apples.\nAnswer:"], 3, 2)
    assert model.training and tok.padding_side == "right"


class ScriptedLM(torch.nn.Module):
    """A fake causal LM that continues each prompt with a fixed script, then repeats ``filler``.

    The next token is looked up by (current token, its position id), so the script is only followed
    when left padding gives every row the positions it would have alone. Logits: ``(B, T, V)`` one-hot.
    """

    def __init__(self, tok, scripts: dict[str, str], filler: str = "apples"):
        super().__init__()
        self.anchor = torch.nn.Parameter(torch.zeros(1))  # gives the module a device
        self.vocab = len(tok)
        self.filler = tok(filler, add_special_tokens=False)["input_ids"][-1]
        self.table: dict[tuple[int, int], int] = {}
        for ids, script in zip(prompt_ids(tok, list(scripts)), scripts.values()):
            cont = tok(script, add_special_tokens=False)["input_ids"]
            cont = [tok.eos_token_id if t == tok.unk_token_id else t for t in cont]  # "<eos>" in a script
            full = ids + cont
            for p in range(len(ids) - 1, len(full) - 1):
                assert self.table.setdefault((full[p], p), full[p + 1]) == full[p + 1], "scripts collide"

    def forward(self, input_ids, position_ids, attention_mask=None, cache=None, use_cache=None, logits_to_keep=0,
                **kwargs):
        nxt = [[self.table.get((t, p), self.filler) for t, p in zip(ts, ps)]
               for ts, ps in zip(input_ids.tolist(), position_ids.tolist())]
        logits = torch.nn.functional.one_hot(torch.tensor(nxt), self.vocab).float()
        return SimpleNamespace(logits=logits[:, -logits_to_keep:] if logits_to_keep else logits)


SENTENCE = "Mia has 3 apples. She buys 4 more."
# prompt -> scripted continuation; prompts 39 tokens apart, more than MAX_NEW, so that no two scripts collide
SCRIPTS = {format_prompt(" ".join([SENTENCE] * k)): script for k, script in zip((1, 4, 7, 10), [
    "x = 3 + 4 = 7.\nThe answer is 7.\nShe has 7 apples.",
    "The answer is 12.5. She had 12 apples",
    "She has 5 apples NOWORD",  # an unknown word stands for eos
    "She had 3 apples and bought 4 more",
])}
MAX_NEW = 24


def test_stops_at_the_answer_sentence_or_eos_and_keeps_prompt_order(tok):
    model = ScriptedLM(tok, SCRIPTS)
    prompts = list(SCRIPTS)
    expected = ["x = 3 + 4 = 7.\nThe answer is 7.", "The answer is 12.5.", "She has 5 apples",
                "She had 3 apples and bought 4 more" + " apples" * 14]  # no answer: runs to MAX_NEW tokens
    for batch_size in (1, 2, 4):
        assert generate_batched(model, tok, prompts, MAX_NEW, batch_size) == expected
    free = generate_batched(model, tok, prompts, MAX_NEW, 4, stop_at_answer=False)
    assert free[:3] == ["x = 3 + 4 = 7.\nThe answer is 7.\nShe has",  # cut at MAX_NEW tokens
                        "The answer is 12.5. She had 12 apples" + " apples" * 9, "She has 5 apples"]


@pytest.mark.parametrize("text,end", [
    ("The answer is 7.", None),            # "7." may become "7.5": wait for the next character
    ("The answer is 7. She", 16),
    ("The answer is 7.5.", 18),
    ("The answer is 7.5", None),
    ("The answer is yes.", 18),
    ("x = 7.\nThe answer is 7\nmore", 22),  # a newline ends it too (excluded)
    ("So the answer is\n7\n", 18),          # the answer may sit on the next line
    ("The answer is", None),
    ("3 + 4 = 7. So 7.", None),             # no answer sentence at all
    ("The answer is 3. No, the answer is 4", None),  # the last statement counts
])
def test_answer_line_end(text, end):
    assert answer_line_end(text) == end


def test_stopping_criterion_for_hf_generate(tok):
    prompt = prompt_ids(tok, ["Mia has 3 apples.\nAnswer:"])[0]
    conts = ["The answer is 7. She", "The answer is 7.", "x = 3 + 4"]
    seqs = [prompt + tok(c, add_special_tokens=False)["input_ids"] for c in conts]
    width = max(map(len, seqs))
    batch = torch.tensor([s + [tok.pad_token_id] * (width - len(s)) for s in seqs])
    assert AnswerLineStop(tok, len(prompt))(batch, None).tolist() == [True, False, False]


def test_pad_left_and_prompt_ids(tok):
    ids, mask = pad_left([[5, 6, 7], [8]], 0)
    assert ids.tolist() == [[5, 6, 7], [0, 0, 8]] and mask.tolist() == [[1, 1, 1], [0, 0, 1]]
    assert prompt_ids(tok, ["Mia"])[0][0] == tok.bos_token_id


def world_example(i, split="test_id", answer="7", kind="number", **meta):
    return Example(f"{split}-{i}", f"question {i}", answer, kind, split, meta)


def test_evaluate_suite_scores_generations(tok):
    model = ScriptedLM(tok, SCRIPTS)
    questions = [" ".join([SENTENCE] * k) for k in (1, 4, 7, 10)]
    examples = [Example(f"test_id-{i}", q, a, "number", "test_id", {"n_steps": i + 2, "start": 3})
                for i, (q, a) in enumerate(zip(questions, ["7", "12.5", "5", "7"]))]
    rows = evaluate_suite(model, tok, examples, format_prompt, MAX_NEW, 3)
    assert [r["pred_answer"] for r in rows] == ["7", "12.5", None, None]
    assert [r["correct"] for r in rows] == [True, True, False, False]
    assert rows[0] == {"id": "test_id-0", "split": "test_id", "output": "x = 3 + 4 = 7.\nThe answer is 7.",
                       "pred_answer": "7", "gold": "7", "correct": True, "kind": "number", "n_steps": 2}


@pytest.mark.parametrize("output,gold,kind,pred,correct", [
    ("x = 3 + 4 = 7.\nThe answer is 7.", "7", "number", "7", True),
    ("The answer is 1 2 . 5.", "12.5", "number", "12.5", True),   # word-level spacing
    ("She has 5 apples", "5", "number", None, False),             # no answer statement: no guess
    ("The answer is no.", "no", "yesno", "no", True),
    ("The answer is yes.", "no", "yesno", "yes", False),
])
def test_score_output_on_saved_generations(output, gold, kind, pred, correct):
    row = score_output(world_example(0, "general_test", gold, kind, skill="compare"), output)
    assert (row["pred_answer"], row["correct"], row["skill"]) == (pred, correct, "compare")
    assert "n_steps" not in row


def test_prediction_files_round_trip_and_errors(tmp_path):
    rows = [score_output(world_example(i, n_steps=2), f"The answer is {i}.") for i in range(3)]
    path = save_predictions(prediction_file(tmp_path, "mind", 0, "test_id"), rows)
    assert path == tmp_path / "mind" / "seed0" / "test_id.jsonl"
    assert load_predictions(path) == rows
    bad = dict(rows[1], correct="yes")
    path.write_text("\n".join(json.dumps(r) for r in (rows[0], bad)) + "\n")
    with pytest.raises(DataError, match=r"test_id.jsonl:2: field 'correct': expected bool"):
        load_predictions(path)
    with pytest.raises(DataError, match=r"row to write\):1: field 'gold': missing"):
        save_predictions(tmp_path / "x.jsonl", [{k: v for k, v in rows[0].items() if k != "gold"}])
    assert not (tmp_path / "x.jsonl").exists()


def test_prediction_tree_feeds_the_summary(tmp_path):
    for method, seed, suite, right in [("mind", 0, "test_id", 3), ("mind", 0, "general_test", 2),
                                       ("base_student", 0, "general_test", 3)]:
        rows = [score_output(world_example(i, suite), "The answer is 7." if i < right else "The answer is 1.")
                for i in range(3)]
        save_predictions(prediction_file(tmp_path, method, seed, suite), rows)
    tree = load_prediction_tree(tmp_path)
    assert sorted(tree) == [("base_student", 0, "general_test"), ("mind", 0, "general_test"), ("mind", 0, "test_id")]
    summary = build_summary(tree, n_boot=200)
    assert summary["methods"]["mind"]["id"]["acc"] == 1.0
    assert summary["methods"]["mind"]["forgetting"] == pytest.approx(1 / 3, abs=1e-4)


def test_evaluation_jobs_cover_every_student_and_suite_with_direct_answers_last():
    from mind_lib.evaluate import evaluation_jobs

    students = [dict(method=m, seed=0, prompt_method=p)
                for m, p in (("base_student", "answer_only"), ("mind", "mind"), ("dss", "dss"), ("std_cot", "std_cot"))]
    jobs = evaluation_jobs(students, ["test_id", "general_test"])
    assert sorted((j["method"], j["suite"]) for j in jobs) == sorted(
        (s["method"], suite) for s in students for suite in ("test_id", "general_test"))
    assert [(j["method"], j["suite"]) for j in jobs] == [
        ("mind", "test_id"), ("mind", "general_test"), ("std_cot", "test_id"), ("std_cot", "general_test"),
        ("base_student", "test_id"), ("base_student", "general_test"), ("dss", "test_id"), ("dss", "general_test")]


# ---------------------------------------------------------------------------------------------
# The evaluate stage: finished predictions are kept and not decoded again


RUNS = ["std_cot", "mind"]
SUITES = ["test_id", "ood_steps"]


def stage_params(**evaluate):
    from mind_lib.params.evaluate import EvaluateParams

    cfg = EvaluateParams(**{"suites": SUITES, "max_new_tokens": 6, "batch_size": 32, "workers": 1, "n_boot": 100}
                         | evaluate)
    return SimpleNamespace(evaluate=cfg, distill=SimpleNamespace(runs=RUNS, seeds=[0], more_seeds={}))


@pytest.fixture
def grid(tmp_path, smoke_root):
    """An output root with the smoke world, the pretrained smoke student and two "distilled" runs (copies of it,
    recorded as trained on this world): evaluating it decodes 3 students x 2 suites."""
    from mind_lib.tasks.base import world_fingerprint

    paths = Paths(tmp_path / "root")
    no_training = shutil.ignore_patterns("training", ".lock*")
    shutil.copytree(smoke_root.world, paths.world)
    shutil.copytree(smoke_root.base_student, paths.base_student, ignore=no_training)
    for method in RUNS:
        shutil.copytree(paths.base_student, paths.run_dir(method, 0), ignore=no_training)
        world_marker(paths.run_dir(method, 0)).parent.mkdir()
        world_marker(paths.run_dir(method, 0)).write_text(world_fingerprint(paths.world))
    return paths


@pytest.fixture
def decoded(monkeypatch):
    """The (method, seed, suite) pairs the evaluate stage decodes (workers=1: in this process)."""
    import mind_lib.evaluate as evaluate

    pairs, job = [], evaluate._evaluate_job

    def spy(j):
        pairs.append((j["method"], j["seed"], j["suite"]))
        return job(j)

    monkeypatch.setattr(evaluate, "_evaluate_job", spy)
    return pairs


def files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def all_pairs(methods=("base_student", *RUNS)):
    return sorted((m, 0, s) for m in methods for s in SUITES)


def test_second_evaluation_decodes_nothing_and_keeps_every_file(grid, decoded):
    from mind_lib.evaluate import evaluate_runs

    first = evaluate_runs(stage_params(), grid, progress=False)
    assert sorted(decoded) == all_pairs()
    before = files(grid.predictions)
    assert sorted(before) == sorted(f"{m}/seed0/{s}.{ext}" for m, _, s in all_pairs() for ext in ("jsonl", "meta.json"))
    meta = json.loads((grid.prediction_meta("mind", 0, "test_id")).read_text())
    assert meta["decoding"]["max_new_tokens"] == 6 and meta["rows"] == len(load_predictions(
        grid.prediction_file("mind", 0, "test_id")))
    decoded.clear()
    second = evaluate_runs(stage_params(batch_size=7), grid, progress=False)  # the batch size changes no row
    assert decoded == []
    assert files(grid.predictions) == before
    assert {k: v for k, v in second.items() if k != "machine"} == {k: v for k, v in first.items() if k != "machine"}
    # another decoding budget: every pair is stale
    evaluate_runs(stage_params(max_new_tokens=7), grid, progress=False)
    assert sorted(decoded) == all_pairs()


def test_a_changed_model_is_decoded_again_alone(grid, decoded):
    from safetensors.torch import load_file, save_file

    from mind_lib.evaluate import evaluate_runs

    evaluate_runs(stage_params(), grid, progress=False)
    before = files(grid.predictions)
    weights = grid.run_dir("std_cot", 0) / "model.safetensors"
    tensors = load_file(weights)
    name = next(k for k, v in tensors.items() if v.is_floating_point())
    tensors[name] = tensors[name] + 0.01
    save_file(tensors, weights, metadata={"format": "pt"})
    decoded.clear()
    evaluate_runs(stage_params(), grid, progress=False)
    assert sorted(decoded) == sorted(("std_cot", 0, s) for s in SUITES)
    after = files(grid.predictions)
    assert {k: v for k, v in after.items() if not k.startswith("std_cot/")} == \
           {k: v for k, v in before.items() if not k.startswith("std_cot/")}
    old, new = (json.loads(f["std_cot/seed0/test_id.meta.json"]) for f in (before, after))
    assert old["model"] != new["model"] and old["questions"] == new["questions"]


@pytest.mark.parametrize("damage", ["truncated", "record missing", "record of another file"])
def test_an_incomplete_prediction_file_is_redone(grid, decoded, damage):
    from mind_lib.evaluate import evaluate_runs

    evaluate_runs(stage_params(), grid, progress=False)
    before = files(grid.predictions)
    path, meta = grid.prediction_file("mind", 0, "test_id"), grid.prediction_meta("mind", 0, "test_id")
    if damage == "truncated":  # a crash mid-write of a file written in place
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    elif damage == "record missing":
        meta.unlink()
    else:
        meta.write_bytes(before["mind/seed0/ood_steps.meta.json"])
    decoded.clear()
    evaluate_runs(stage_params(), grid, progress=False)
    assert decoded == [("mind", 0, "test_id")]
    assert files(grid.predictions) == before  # greedy decoding: the same rows again


def test_predictions_of_other_runs_are_kept_but_left_out_of_the_summary(grid, decoded):
    from mind_lib.evaluate import evaluate_runs

    foreign = {grid.prediction_file("dss", 3, "test_id"): [score_output(world_example(0), "The answer is 7.")],
               grid.prediction_file("mind", 0, "general_test"): [score_output(world_example(0, "general_test"),
                                                                               "The answer is 1.")]}
    for path, rows in foreign.items():
        save_predictions(path, rows)
    notes = grid.predictions / "notes.txt"
    notes.write_text("kept")
    kept = {p: p.read_bytes() for p in [*foreign, notes]}
    summary = evaluate_runs(stage_params(), grid, progress=False)
    assert sorted(decoded) == all_pairs()
    assert {p: p.read_bytes() for p in kept} == kept
    assert sorted(summary["methods"]) == sorted(RUNS) and "general" not in summary["methods"]["mind"]
    assert "general" not in summary["base_student"]


def test_majority_vote():
    from mind_lib.evaluate import majority_vote

    assert majority_vote(["3", None, "4", "4", "3"]) == "3"  # a tie goes to the answer sampled first
    assert majority_vote(["5", "4", "4"]) == "4" and majority_vote([None, None]) is None


def test_self_consistency_is_reported_beside_greedy_and_not_redone(grid, decoded):
    """k samples per question, a majority vote, the same k and temperature for every student; a second call
    decodes nothing; the per-perspective split is in the summary too."""
    from mind_lib.evaluate import evaluate_runs
    from mind_lib.io import read_jsonl

    params = stage_params(self_consistency={"k": 3, "temperature": 1.0, "suites": ["test_id"]})
    summary = evaluate_runs(params, grid, progress=False)
    sc = summary["self_consistency"]
    assert sc["k"] == 3 and set(sc["methods"]) == set(RUNS) and "id" in sc["methods"]["mind"]
    assert "ood" not in sc["methods"]["mind"]  # only the suites asked for
    rows = read_jsonl(grid.self_consistency_file("mind", 0, "test_id"))
    assert all(len(r["answers"]) == 3 for r in rows)
    greedy = {r["id"]: r for r in read_jsonl(grid.prediction_file("mind", 0, "test_id"))}
    assert set(greedy) == {r["id"] for r in rows}
    assert len(decoded) == len(all_pairs()) + 3  # the greedy pairs and one sampled suite per student
    decoded.clear()
    again = evaluate_runs(params, grid, progress=False)
    assert decoded == [] and again["self_consistency"] == sc


def test_sampling_is_seeded():
    from mind_lib.evaluate import generate_batched
    from mind_lib.student import build_tiny_student
    from tests.distill_data import TINY, make_examples, make_rows, make_tokenizer

    examples = make_examples(4)
    tok = make_tokenizer(examples, make_rows(examples))
    model = build_tiny_student(TINY, tok)
    prompts = [e.question for e in examples]
    a = generate_batched(model, tok, prompts, 8, 2, stop_at_answer=False, temperature=1.0, seed=3)
    assert a == generate_batched(model, tok, prompts, 8, 2, stop_at_answer=False, temperature=1.0, seed=3)
    assert a != generate_batched(model, tok, prompts, 8, 2, stop_at_answer=False, temperature=1.0, seed=4)
