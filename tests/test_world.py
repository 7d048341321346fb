"""The embedded world: deterministic by seed, splits disjoint by construction, answers follow the steps."""
import random
import re

import pytest

from mind_lib.params.world import STORY_STEPS, WorldParams
from mind_lib.tasks.base import load_examples
from mind_lib.tasks.world import (ALL_SPLITS, SKILLS, TEMPLATES, SPLITS_ID, SPLITS_OOD, SYMBOL, apply_op, computation_key,
                                  generate_world, load_split, make_general, save_world, stable_rng)

PARAMS = WorldParams(n_train=400, n_feedback=50, n_test=100, n_general_train=100, n_general_test=50)


@pytest.fixture(scope="module")
def world():
    return generate_world(PARAMS)


def test_same_seed_same_world_other_seed_other_world(world):
    assert generate_world(PARAMS) == world
    other = generate_world(PARAMS.model_copy(update={"seed": 1}))
    assert [e.question for e in other["train"]] != [e.question for e in world["train"]]


def test_split_sizes_and_unique_ids(world):
    assert set(world) == set(ALL_SPLITS)
    assert len(world["train"]) == 400 and len(world["feedback"]) == 50
    assert all(len(world[s]) == 100 for s in ("test_id", *SPLITS_OOD))
    ids = [e.id for exs in world.values() for e in exs]
    assert len(ids) == len(set(ids))


def test_answers_follow_the_steps(world):
    for split in (*SPLITS_ID, *SPLITS_OOD):
        for e in world[split]:
            value = e.meta["start"]
            for s in e.meta["steps"]:
                assert s["before"] == value
                value = apply_op(s["op"], value, s["operand"])
                assert s["after"] == value and value >= 1
                if s["op"] == "div":
                    assert s["before"] % s["operand"] == 0  # exact division only
            assert e.answer == str(value)
            assert str(e.meta["start"]) in e.question


def test_id_test_never_repeats_a_training_computation(world):
    train = {computation_key(e) for e in world["train"]} | {computation_key(e) for e in world["feedback"]}
    assert not train & {computation_key(e) for e in world["test_id"]}


def test_each_ood_split_differs_in_its_property(world):
    lo, hi = PARAMS.id_steps
    id_examples = [e for s in SPLITS_ID for e in world[s]]
    assert all(lo <= e.meta["n_steps"] <= hi for e in id_examples)
    assert all(e.meta["n_steps"] > hi for e in world["ood_steps"])
    # unseen templates: every OOD-template problem uses one, no ID problem ever does
    assert all(any(".ood." in t for t in e.meta["templates"]) for e in world["ood_templates"])
    assert not any(".ood." in t for e in id_examples for t in e.meta["templates"])
    # distractor only in its split, and it is a sentence of the question
    assert all(e.meta["distractor"] and e.meta["distractor"] in e.question for e in world["ood_distractor"])
    assert not any(e.meta["distractor"] for e in id_examples)
    # numbers: every ID value within max_value, every OOD-numbers start above it
    assert all(s["after"] <= PARAMS.max_value for e in id_examples for s in e.meta["steps"])
    assert all(e.meta["start"] > PARAMS.max_value for e in world["ood_numbers"])
    assert all(s["after"] <= PARAMS.ood_max_value for e in world["ood_numbers"] for s in e.meta["steps"])


def test_ood_numbers_is_reachable_not_impossible(world):
    # larger amounts and nothing else: ID operands and step counts, and every step (start included) is a
    # fact within the base student's prior, whose general suite covers amounts up to ood_max_value
    rng = random.Random(0)
    draws = (make_general(rng, "arith", "", "general_train", PARAMS.ood_max_value, PARAMS.max_operand)
             for _ in range(20000))
    facts = {(e.meta["a"], e.meta["op"], e.meta["b"]) for e in draws}  # the suite's whole fact space
    lo, hi = PARAMS.id_steps
    for e in world["ood_numbers"]:
        assert PARAMS.max_value < e.meta["start"] <= PARAMS.ood_max_value and lo <= e.meta["n_steps"] <= hi
        assert all(s["op"] in ("mul", "div") or s["operand"] <= PARAMS.max_operand for s in e.meta["steps"])
    assert {(s["before"], s["op"], s["operand"]) for e in world["ood_numbers"] for s in e.meta["steps"]} <= facts
    starts = [e.meta["steps"][0]["before"] for e in world["general_train"] if e.meta["skill"] in ("story", "parse")]
    assert max(starts) > PARAMS.max_value  # the prior reads stories with the larger amounts too


def test_ood_steps_is_reachable_not_impossible(world):
    # one or two steps beyond training, as the calibration issue asks
    assert {e.meta["n_steps"] for e in world["ood_steps"]} == {5, 6}


def test_general_suite(world):
    story_templates: set = set()
    test_q = {e.question for e in world["general_test"]}
    assert len(test_q) == len(world["general_test"])
    for e in world["general_test"] + world["general_train"]:
        m = e.meta
        if m["skill"] == "arith":  # exactly the facts world steps need, with a worked equation
            assert e.answer == str(apply_op(m["op"], m["a"], m["b"])) and e.kind == "number"
            assert 1 <= int(e.answer) <= PARAMS.ood_max_value and m["worked"].endswith(f"= {e.answer}.")
            assert m["op"] in ("mul", "div") or m["b"] <= PARAMS.max_operand
        elif m["skill"] == "story":  # 1-2 changes told with any phrasing, the worked steps as target
            value = int(re.search(r"\d+", e.question.split(".")[0]).group())  # the start sentence's amount
            for s in m["steps"]:
                assert s["before"] == value and f" {s['operand']} " in e.question
                value = apply_op(s["op"], value, s["operand"])
            assert e.answer == str(value) and m["worked"].endswith(f"= {e.answer}.")
            assert STORY_STEPS[0] <= len(m["steps"]) <= STORY_STEPS[1] < PARAMS.id_steps[0]
            story_templates.update(s["template"] for s in m["steps"])
        elif m["skill"] == "parse":  # the story's changes in order, nothing computed
            assert e.kind == "text" and e.answer == ", ".join(f"{SYMBOL[s['op']]} {s['operand']}" for s in m["steps"])
            assert 1 <= len(m["steps"]) <= PARAMS.parse_max and "How many" not in e.question
        elif m["skill"] == "compare":
            assert e.answer == ("yes" if (m["a"] > m["b"]) == (m["rel"] == "more") else "no")
        else:
            assert e.answer == ("yes" if sum(m["flips"]) % 2 == 0 else "no")
    assert {e.meta["skill"] for e in world["general_test"]} == set(SKILLS)
    # the short stories teach every phrasing's words, the OOD ones included (only multi-step problems keep them out)
    assert {t for t in story_templates if ".ood." in t} == {f"{op}.ood.{i}" for op, pools in TEMPLATES.items()
                                                          for i in range(len(pools["ood"]))}
    # no parse story retells a test problem (ID, OOD-numbers or OOD-steps, whose amounts and lengths it covers)
    test_keys = {computation_key(e) for split in ("test_id", "ood_numbers", "ood_steps") for e in world[split]}
    parses = [e for e in world["general_test"] + world["general_train"] if e.meta["skill"] == "parse"]
    assert parses and not any(computation_key(e) in test_keys for e in parses)


def test_parse_stories_reach_parse_steps_and_never_retell_an_ood_steps_problem():
    """``parse_steps`` lets the prior read stories as long as the OOD-steps problems (null: ``id_steps`` max),
    never one of them."""
    def parses(w):
        return [e for e in w["general_train"] + w["general_test"] if e.meta["skill"] == "parse"]

    assert {len(e.meta["steps"]) for e in parses(generate_world(PARAMS))} == set(range(1, PARAMS.id_steps[1] + 1))
    small = WorldParams(max_value=19, max_operand=2, id_steps=(3, 4), ood_steps=(5, 5), parse_steps=5,
                        ood_max_value=20, n_train=50, n_feedback=10, n_test=300, n_general_train=5000,
                        n_general_test=20)
    w = generate_world(small)
    assert {len(e.meta["steps"]) for e in parses(w)} == set(range(1, 6))
    ood = {computation_key(e) for e in w["ood_steps"]}
    assert not any(computation_key(e) in ood for e in parses(w))
    # not vacuous: the suite's own draws, before the exclusion, do retell some of them in this small world
    rng = stable_rng(small.seed, "general_train", "parse")
    raw = [make_general(rng, "parse", "", "general_train", small.ood_max_value, small.max_operand, small.parse_max)
           for _ in range(small.n_general_train)]
    assert any(computation_key(e) in ood for e in raw)


def test_save_and_load_round_trip(world, tmp_path):
    counts = save_world(world, tmp_path)
    assert counts["train"] == 400
    assert load_split(tmp_path, "ood_steps") == world["ood_steps"]
    with pytest.raises(ValueError, match="unknown split 'dev'; the world's: train"):
        load_split(tmp_path, "dev")
    with pytest.raises(FileNotFoundError, match="run the 'world' stage first"):
        load_split(tmp_path / "nowhere", "train")


def test_bad_example_file_names_line_and_field(tmp_path):
    path = tmp_path / "x.jsonl"
    good = '{"id": "a", "question": "q", "answer": "1", "kind": "number", "split": "train", "meta": {}}'
    path.write_text(good + "\n" + good.replace('"kind": "number"', '"kind": "essay"') + "\n")
    with pytest.raises(ValueError, match=r"x.jsonl:2: field 'kind': must be one of"):
        load_examples(path)
    path.write_text(good + "\n" + good.replace('"answer": "1", ', "") + "\n")
    with pytest.raises(ValueError, match=r"x.jsonl:2: field 'answer': missing"):
        load_examples(path)


def test_impossible_sizes_fail_clearly():
    tiny = WorldParams(max_value=10, max_operand=2, id_steps=(3, 3), ood_steps=(4, 4), ood_max_value=20,
                       n_train=100000, n_test=5, n_feedback=5, n_general_train=5, n_general_test=5)
    with pytest.raises(ValueError, match="cannot draw 100000 distinct train problems"):
        generate_world(tiny)


@pytest.mark.parametrize("profile", ["default", "paper"])
def test_every_evaluation_question_is_made_of_known_words(tmp_path, profile):
    """The student's tokenizer, built as the pretrain stage builds it (general suite, training questions, the
    collected rationales), has a token for every word of every evaluation split: OOD splits are new compositions of
    known words, and a distractor is not given away by an unknown word."""
    from mind_lib.pretrain import pretrain_items, pretrain_tokenizer
    from mind_lib.rationales import load_rationales
    from mind_lib.stages import collect, pretrain, world

    root = tmp_path / profile
    for stage in (world, collect):
        params, paths = stage.load(profile=profile, out_root=root)
        getattr(stage, f"run_{stage.__name__.rsplit('.', 1)[1]}")(params, paths)
    student = pretrain.load(profile=profile, out_root=root)[0].student
    tok = pretrain_tokenizer(student, pretrain_items(load_split(paths.world, "general_train"),
                                                     [e.question for e in load_split(paths.world, "train")]),
                             [r["rationale"] for r in load_rationales(paths.rationales / "train.jsonl")])
    for split in ("test_id", *SPLITS_OOD, "general_test", "feedback"):
        questions = [e.question for e in load_split(paths.world, split)]
        unknown = [q for q in questions if tok.unk_token_id in tok(q, add_special_tokens=False)["input_ids"]]
        assert not unknown, f"{profile} {split}: {len(unknown)} of {len(questions)} questions hold an unknown word, " \
                            f"e.g. {unknown[0]!r}"
