"""The names of the reasoning perspectives the built-in teacher writes: the one owner of these names.

``PARADIGMS`` are the eight reasoning paradigms of the MIND paper (docs/method.md §1.2), the default
data; ``CLASSIC_STYLES`` are five teacher styles kept for multi-teacher configurations. Torch-free, so
params validation can read it.
"""
from __future__ import annotations

from typing import Mapping, TypeVar

V = TypeVar("V")

PARADIGMS: tuple[str, ...] = ("formal", "intuitive", "decomposition", "planning", "analogy", "socratic",
                              "contrastive", "counterfactual")
CLASSIC_STYLES: tuple[str, ...] = ("equation", "narrative", "program", "backward", "expert")
STYLES: tuple[str, ...] = PARADIGMS + CLASSIC_STYLES


def per_paradigm(table: Mapping[str, V], what: str) -> dict[str, V]:
    """``table`` (one entry per paradigm, e.g. a teacher's error rates or prompts) in ``PARADIGMS`` order; a
    missing or unknown paradigm is an error at import, so such tables cannot drift from the names here."""
    missing, unknown = [p for p in PARADIGMS if p not in table], [p for p in table if p not in PARADIGMS]
    if missing or unknown:
        raise ValueError(f"{what}: missing paradigms {missing}, unknown ones {unknown}; the paradigms are "
                         f"{', '.join(PARADIGMS)} (mind_lib.styles)")
    return {p: table[p] for p in PARADIGMS}
