"""Which perspective a student writes in, and how well it executes it (docs/method.md §4).

At greedy decoding a multi-perspective student picks one way of reasoning per question with its first tokens,
so its accuracy mixes two things: which perspective it picks and how accurately it carries that one out. The
split here separates them. A perspective is recognised by its opening: the first words of a text (digits as
``#``), which for the built-in paradigms are distinct by construction ("Let y# =", "Picture the", "Part #:").
Each opening seen in the training rationales is assigned to the perspective that writes it most often (at least
``min_share`` of its uses); an output whose opening no perspective owns is ``other``.
"""
from __future__ import annotations

import re
from collections import Counter, defaultdict
from typing import Iterable, Mapping, Sequence

OTHER = "other"
_WORD = re.compile(r"[a-z#]+")


def opening(text: str, n_words: int = 2) -> str:
    """The first ``n_words`` words of ``text``, lower case, digits as ``#``, punctuation dropped."""
    return " ".join(_WORD.findall(re.sub(r"\d+", "#", text.lower()))[:n_words])


def opening_owners(rows: Iterable[Mapping], n_words: int = 2, min_share: float = 0.8) -> dict[str, str]:
    """opening -> the perspective that writes it, from rationale rows (``perspective``, ``rationale``)."""
    counts: dict[str, Counter] = defaultdict(Counter)
    for r in rows:
        counts[opening(r["rationale"], n_words)][r["perspective"]] += 1
    owners = {}
    for key, by_perspective in counts.items():
        perspective, n = by_perspective.most_common(1)[0]
        if key and n >= min_share * sum(by_perspective.values()):
            owners[key] = perspective
    return owners


def perspective_of(output: str, owners: Mapping[str, str], n_words: int = 2) -> str:
    return owners.get(opening(output, n_words), OTHER)


def perspective_split(tree: Mapping[tuple[str, int, str], Sequence[Mapping]], owners: Mapping[str, str],
                      groups: Mapping[str, Sequence[str]]) -> dict[str, dict[str, dict[str, dict]]]:
    """Per method and suite group (e.g. ``{"id": ["test_id"], "ood": [...]}``), pooled over seeds: for each
    perspective written, ``n``, ``share`` of the method's outputs and ``acc`` on them (``correct`` of the rows)."""
    out: dict[str, dict[str, dict[str, dict]]] = {}
    for group, suites in groups.items():
        by_method: dict[str, dict[str, list[bool]]] = defaultdict(lambda: defaultdict(list))
        for (method, _seed, suite), rows in tree.items():
            if suite in suites:
                for r in rows:
                    by_method[method][perspective_of(r["output"], owners)].append(bool(r["correct"]))
        for method, written in by_method.items():
            total = sum(len(v) for v in written.values())
            out.setdefault(method, {})[group] = {
                p: {"n": len(v), "share": round(len(v) / total, 4), "acc": round(sum(v) / len(v), 4)}
                for p, v in sorted(written.items(), key=lambda kv: -len(kv[1]))}
    return out
