"""Distillation strategies behind one interface (``mind_lib.strategies.base.Strategy``).

``registry.get_strategy(name, options)`` builds one by name; ``options`` holds each strategy's torch-free
options model and the named variants. This package file imports nothing, so reading the options does not
import torch.
"""
