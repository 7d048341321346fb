"""Typed, torch-free parameter models, one module per stage section (TRL-style config classes).

Each model is a ``mind_lib.config.Section``: unknown keys are errors, every field has a docstring
(``mind params --explain SECTION``) and range checks. A stage imports only the models of the sections
it reads, so its DVC dependencies name only those modules. This package file imports nothing.
"""
