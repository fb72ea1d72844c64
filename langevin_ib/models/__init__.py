"""Models by config name; each module exports FIELDS, OBSERVABLES and build(cfg, dtype) -> Model."""

from langevin_ib.models import harmonic, uv
from langevin_ib.models.base import Model

REGISTRY = {"uv": uv, "harmonic": harmonic}

__all__ = ["Model", "REGISTRY"]
