"""The names of the reasoning perspectives the built-in teacher writes: the one owner of these names.

``PARADIGMS`` are the eight reasoning paradigms of the MIND paper (docs/method.md §1.2), the default
data; ``CLASSIC_STYLES`` are five teacher styles kept for multi-teacher configurations. Torch-free, so
params validation can read it.
"""
from __future__ import annotations

PARADIGMS: tuple[str, ...] = ("formal", "intuitive", "decomposition", "planning", "analogy", "socratic",
                              "contrastive", "counterfactual")
CLASSIC_STYLES: tuple[str, ...] = ("equation", "narrative", "program", "backward", "expert")
STYLES: tuple[str, ...] = PARADIGMS + CLASSIC_STYLES
