"""The model protocol: a loss on a parameter pytree and the coordinates the engine histograms.

``observe(params)`` returns named 1-D arrays of equal length m (one entry per independent copy):
the quotient coordinate q = φ(θ) under the name ``quotient`` and, for a symmetric model, the
symmetry-breaking coordinate χ under the name ``symmetry`` (docs/theory.md §2), so that the engine can
histogram q conditionally on the level sets of χ.

A symmetric model also declares its ``group`` action once (:class:`langevin_ib.geometry.GroupAction`),
from which the geometry module derives χ, G_χ and the correction by autodiff, and may give
``quotient_map``: the full chart φ of the quotient (e.g. w_j = v_j W_j per neuron) when the
histogrammed q is only a summary of it.
A rescaling model (:mod:`langevin_ib.models.rescaling`) also gives its ``chain`` of factors, from
which :mod:`langevin_ib.statistics.pit` tests each copy's strength under its full conditional.
A GL(r)-type symmetry whose slice makes the copies of a pair the orthogonal singular modes of the
quotient (U = P√Σ, V = Q√Σ) gives that pair as ``modes``, for :mod:`langevin_ib.predictions.general_linear.singular_modes`.
A model fitted to data may declare ``data`` (:class:`langevin_ib.models.data.Data`): its per-example
loss and a finite training set or a generator of examples, whose mean is ``loss`` up to a constant;
stochastic-gradient dynamics draw minibatches from it. A model whose potential has a closed-form
stationary law declares it as ``closed_form`` (the u·v and harmonic models do), which enables the
histogram comparisons that law's prediction module declares. A model may give a ``readout`` of end-of-run
metrics (:class:`langevin_ib.models.readout.Readout`) and, for a signal synthesised from factored
coefficients, its ``synthesis`` matrix (:mod:`langevin_ib.predictions.implied_bias`).
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

import jax

Params = Any


class GroupAction(NamedTuple):
    """``act(a, params) -> params`` with a ∈ R^dim and act(0, θ) = θ; ``breaking(params) -> (dim,)``
    a user-supplied χ (None: the canonical ½⟨θ, ξ_a(θ)⟩)."""

    act: Callable[[jax.Array, Params], Params]
    dim: int
    breaking: Callable[[Params], jax.Array] | None = None


class Model(NamedTuple):
    init: Callable[[jax.Array], Params]
    loss: Callable[[Params], jax.Array]
    observe: Callable[[Params], dict[str, jax.Array]]
    quotient: str
    symmetry: str | None
    group: GroupAction | None = None
    quotient_map: Callable[[Params], jax.Array] | None = None
    chain: Any = None  # rescaling.RescalingChain of a rescaling symmetry
    modes: Any = None  # rescaling.RescalingChain whose copies are the singular modes on the slice
    data: Any = None  # data.Data: per-example loss and its finite set or generator (loss = its mean − offset)
    # (law, ((parameter, value), ...)) of a closed-form stationary law of langevin_ib.predictions its potential
    # has, e.g. ("uv", (("target", 1.0),)): the histogram comparisons that law declares then apply (hashable)
    closed_form: tuple[str, tuple] | None = None
    readout: Any = None  # readout.Readout: per-chain end-of-run metrics and profiles against the truth
    synthesis: Any = None  # (p, n) numpy S of a signal x = S c whose coefficients c carry the bias (eq. 16)
    # one chain's ∇L, equal to jax.grad(loss) up to rounding, where the model computes it in less memory
    # (a full-batch gradient summed over blocks of examples: data.blocked_gradient); None: jax.grad(loss)
    gradient: Callable[[Params], Params] | None = None

    def potential(self, weight_decay: float) -> Callable[[Params], jax.Array]:
        """U = L + (λ/2)|θ|², the potential the dynamics sample."""
        decay = self.decay(weight_decay)
        return lambda params: self.loss(params) + decay(params)

    @staticmethod
    def decay(weight_decay: float) -> Callable[[Params], jax.Array]:
        """(λ/2)|θ|², the weight-decay part of U."""
        return lambda params: 0.5 * weight_decay * sum(jax.numpy.sum(p**2) for p in jax.tree.leaves(params))

    def chart(self, params: Params) -> jax.Array:
        """Full quotient coordinates φ(θ), flat: ``quotient_map`` if given, else the histogrammed q."""
        if self.quotient_map is not None:
            return jax.numpy.ravel(self.quotient_map(params))
        return jax.numpy.ravel(self.observe(params)[self.quotient])
