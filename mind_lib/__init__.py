"""MIND compendium library: capability-aware multi-perspective CoT distillation (arXiv 2601.03717)."""
__version__ = "0.1.0"
