"""Models by config name; each module exports FIELDS, OBSERVABLES and build(cfg, dtype) -> Model."""

import importlib
import os
import sys
from pathlib import Path

from langevin_ib.models import (attention, deep_scalar, hadamard, harmonic, linear, matrix_factorisation, plain_signal,
                                relu, uv)
from langevin_ib.models.base import Model
from langevin_ib.base import ConfigError

REGISTRY = {
    "uv": uv,
    "harmonic": harmonic,
    "hadamard": hadamard,
    "plain_signal": plain_signal,
    "deep_scalar": deep_scalar,
    "matrix_factorisation": matrix_factorisation,
    "relu": relu,
    "attention": attention,
    "linear": linear,
}



def lookup(name: str):
    """The model module named ``name``: a built-in one, or a user module by import path (the
    current directory is importable), which must export FIELDS, OBSERVABLES and build(cfg, dtype)."""
    if name in REGISTRY:
        return REGISTRY[name]
    accepted = f"accepted values are {list(REGISTRY)} or an importable module path such as my_models.tilted_uv"
    if "." not in name and not Path(f"{name}.py").is_file():
        raise ConfigError(f"model.name: got {name!r}; {accepted}")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(name)
    except (ImportError, ValueError, TypeError) as err:  # also relative or empty names such as '..'
        raise ConfigError(f"model.name: could not import {name!r} ({err}); {accepted}") from None
    missing = [attr for attr in ("FIELDS", "OBSERVABLES", "build") if not hasattr(module, attr)]
    if missing:
        raise ConfigError(f"model.name: module {name!r} lacks {missing}; a model module exports "
                          "FIELDS (dict of schema.Field), OBSERVABLES (tuple of names) and build(cfg, dtype) -> Model")
    return module


__all__ = ["Model", "REGISTRY", "lookup"]
