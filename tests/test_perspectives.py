"""The per-perspective split: which perspective a student writes, and its accuracy on each."""
from mind_lib.perspectives import OTHER, opening, opening_owners, perspective_of, perspective_split


ROWS = [{"perspective": "formal", "rationale": "Let y0 = 3. y1 = y0 + 2 = 5. The answer is 5."},
        {"perspective": "formal", "rationale": "Let y0 = 7. y1 = 7 - 1 = 6. The answer is 6."},
        {"perspective": "planning", "rationale": "Plan: start from 3 and apply + 2. The answer is 5."},
        {"perspective": "socratic", "rationale": "How many cards are there at the start? 4."},
        {"perspective": "intuitive", "rationale": "How many cards? Picture them."}]


def test_openings_are_owned_by_the_perspective_that_writes_them():
    assert opening("Let y12 = 3.") == "let y#" and opening("Plan: start") == "plan start"
    owners = opening_owners(ROWS)
    assert owners["let y#"] == "formal" and owners["plan start"] == "planning"
    assert "how many" not in owners  # written by two perspectives half the time each: nobody's
    assert perspective_of("Let y0 = 9. The answer is 9.", owners) == "formal"
    assert perspective_of("The answer is 9.", owners) == OTHER


def test_split_pools_seeds_and_groups_suites():
    owners = opening_owners(ROWS)
    tree = {("mind", 0, "test_id"): [{"output": "Let y0 = 1.", "correct": True},
                                     {"output": "Plan: start", "correct": False}],
            ("mind", 1, "test_id"): [{"output": "Let y0 = 2.", "correct": False}],
            ("mind", 0, "ood_steps"): [{"output": "Plan: start", "correct": True}]}
    split = perspective_split(tree, owners, {"id": ["test_id"], "ood": ["ood_steps"]})
    assert split["mind"]["id"]["formal"] == {"n": 2, "share": round(2 / 3, 4), "acc": 0.5}
    assert split["mind"]["id"]["planning"] == {"n": 1, "share": round(1 / 3, 4), "acc": 0.0}
    assert split["mind"]["ood"] == {"planning": {"n": 1, "share": 1.0, "acc": 1.0}}
    assert sum(v["share"] for v in split["mind"]["id"].values()) == 1.0
