"""The model protocol: a loss on a parameter pytree and the coordinates the engine histograms.

``observe(params)`` returns named 1-D arrays of equal length m (one entry per independent copy):
the quotient coordinate q = φ(θ) under the name ``quotient`` and, for a symmetric model, the
symmetry-breaking coordinate χ under the name ``symmetry`` (THEORY.md §2), so that the engine can
histogram q conditionally on the level sets of χ.
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

import jax

Params = Any


class Model(NamedTuple):
    init: Callable[[jax.Array], Params]
    loss: Callable[[Params], jax.Array]
    observe: Callable[[Params], dict[str, jax.Array]]
    quotient: str
    symmetry: str | None
