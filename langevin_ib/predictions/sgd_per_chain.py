"""Per-chain predictions for stochastic-gradient runs (docs/sgd.md): the one-step χ drift of SGD, SGLD
and of the isotropic Langevin step, the local effective temperature, and the noise equilibria.

The drift pieces are :func:`langevin_ib.predictions.chi_drift.drift_terms`; one step of size η has

    E[Δχ | θ] = η·first + ½η²(curvature + (c/B)·noise) + ηT·laplacian          (SGD/SGLD, B, c, T)
    E[Δχ | θ] = η·first + ½η²·curvature + ηT_L·laplacian                        (Euler–Maruyama at T_L)

(:func:`increments`). The noise equilibrium (Ziyin et al., NeurIPS 2024, arXiv 2402.07193) is the
orbit point where the first vanishes (:func:`noise_equilibria`).
"""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.flatten_util
import jax.numpy as jnp
import numpy as np

from langevin_ib.models.base import Model
from langevin_ib.numerics.by_identity import ByIdentity
from langevin_ib.predictions import chi_drift

SIGMA_EXAMPLES = 256  # fresh examples per chain and boundary estimating Σ (unbiased) for a generator
TEMPERATURE_EXAMPLES = 4096  # fresh examples per chain estimating tr Σ for the local temperature


def increments(terms: dict, step_size: float, temperature: float, sampling_factor: float, batch_size: int,
               langevin_temperature: float) -> dict:
    """Per hypothesis, E[Δχ | θ] of one step (module docstring) from :func:`chi_drift.drift_terms`: ``sgd``
    (minibatch noise, B, sampling factor c, SGLD temperature T) and ``langevin`` (the isotropic
    Euler–Maruyama step at ``langevin_temperature``)."""
    eta = step_size
    common = eta * terms["first"] + 0.5 * eta**2 * terms["curvature"]
    return {"sgd": common + 0.5 * eta**2 * sampling_factor / batch_size * terms["noise"]
            + eta * temperature * terms["laplacian"],
            "langevin": common + eta * langevin_temperature * terms["laplacian"]}


@functools.partial(jax.jit, static_argnums=(0, 1))
def _drawn(model: ByIdentity, count: int, keys: jax.Array) -> Any:
    return jax.vmap(lambda key: model.value.data.draw(key, count))(keys)


def examples_of(model: Model, count: int, keys: jax.Array) -> Any:
    """The examples each chain's Σ is estimated from: the model's finite set (shared), or ``count`` fresh
    ones per key (a leading chain axis), drawn in a compiled call of their own: compiled together with the
    per-chain terms that read them, XLA:CPU recomputed the draws inside their consumers (u·v's drift terms
    of 4096 chains: 0.32 s in one call, 0.04 s in two; docs/engineering.md)."""
    data = model.data
    return data.examples if data.examples is not None else _drawn(ByIdentity(model), count, keys)


def examples_at(model: Model, count: int, root: jax.Array, chains: int) -> Any:
    """:func:`examples_of` for the keys fold_in(root, c), c < ``chains``, derived inside the compiled draw, so
    calls with the same ``count`` and ``chains`` share one program (the drift test's boundaries and the noise
    equilibria; docs/engineering.md)."""
    data = model.data
    return data.examples if data.examples is not None else _drawn_at(ByIdentity(model), count, chains, root)


@functools.partial(jax.jit, static_argnums=(0, 1, 2))
def _drawn_at(model: ByIdentity, count: int, chains: int, root: jax.Array) -> Any:
    return _drawn(model, count, jax.vmap(jax.random.fold_in, (None, 0))(root, jnp.arange(chains)))


def closed_form_chi(model: Model) -> Model:
    """The model with a rescaling chain's χ in closed form, χ_{a,j} = ½(|f_a,j|² − |f_{a+1},j|²) for
    generator a of copy j (the canonical ½⟨θ, ξ_{a,j}(θ)⟩, docs/theory.md §2), in the group's order
    (level-major); other models unchanged. The canonical form differentiates the (dim, d) generator
    matrix, forward over forward in the drift terms' 2d directions: ~0.5 GB per chain on Fig. 6's model
    (d = 400, dim = 200; docs/paper.md), O(d) per direction in closed form."""
    chain = model.chain
    if chain is None or model.group.breaking is not None:
        return model

    def chi(params):
        norms = jnp.stack([jnp.sum(f**2, axis=1) for f in chain.factors(params)])  # (depth, copies)
        return 0.5 * (norms[:-1] - norms[1:]).reshape(-1)

    return model._replace(group=model.group._replace(breaking=chi))


def terms_per_chain(model: Model, weight_decay: float, unravel, flat_positions: jax.Array, examples: Any) -> dict:
    """chi_drift.drift_terms per chain (vmapped) from :func:`examples_of`'s examples (per chain for a
    generator, unbiased Σ; the finite set's otherwise), χ by :func:`closed_form_chi`."""
    model, fresh = closed_form_chi(model), model.data.examples is None
    one = lambda flat, chosen: chi_drift.drift_terms(model, unravel(flat), chosen, weight_decay, unbiased=fresh)
    return jax.vmap(one, (0, 0 if fresh else None))(flat_positions, examples)


def local_temperature(model: Model, flat_positions: jax.Array, template: Any, step_size: float, batch_size: int,
                      seed: int = 0) -> np.ndarray:
    """Per chain, the isotropic local effective temperature T_eff = η tr Σ(θ)/(2B·d), d = the number of
    parameters, Σ the per-example gradient covariance (a finite set's, or TEMPERATURE_EXAMPLES fresh ones');
    ``template``: one chain's parameters, whose structure the flat positions unravel into."""
    examples = examples_at(model, TEMPERATURE_EXAMPLES, jax.random.key(seed + 31), flat_positions.shape[0])
    trace = np.asarray(_gradient_traces(ByIdentity(model), template, flat_positions, examples), np.float64)
    return step_size * trace / (2 * batch_size * flat_positions.shape[1])


@functools.partial(jax.jit, static_argnums=0)
def _gradient_traces(model: ByIdentity, template: Any, flat_positions: jax.Array, examples: Any) -> jax.Array:
    data, unravel = model.value.data, jax.flatten_util.ravel_pytree(template)[1]
    one = lambda flat, chosen: jnp.trace(chi_drift.gradient_moments(data.example_loss, unravel(flat), chosen)[1])
    return jax.vmap(one, (0, None if data.examples is not None else 0))(flat_positions, examples)


def noise_equilibria(model: Model, params: Any, step_size: float, temperature: float, weight_decay: float,
                     batch_size: int, sampling_factor: float, seed: int = 0, bracket: float = 6.0,
                     iterations: int = 32, draws_for: int = 0) -> np.ndarray:
    """(chains, copies) a*: the orbit point of each copy where the SGD drift of its χ vanishes
    (:func:`langevin_ib.predictions.chi_drift.noise_equilibrium` on that copy's action alone; NaN
    where not bracketed). The balance ratio there is e^{−2a*} times the current one for a pair. The
    hyperparameters are traced: one compiled function per model, shapes, bracket and iterations.

    For a rescaling chain (``model.chain``) the copies of one level of the chain act on disjoint
    coordinates, and the drift of copy j's χ reads only its own coordinates, whose per-example gradients
    go as ∇ℓ(Sθ) = S⁻¹∇ℓ(θ) (S the diagonal rescaling, ℓ invariant): it depends on a_j alone. So a
    level's copies are bisected together, one drift evaluation per halving for all of them (Fig. 6's
    200 copies: 200× fewer than one copy at a time); other groups take one generator at a time.

    Chain c's examples are drawn from fold_in(key(seed + 97), c), for max(chains, ``draws_for``) chains
    (:func:`examples_at`): with ``draws_for`` the drift test's chain count, both share one compiled draw."""
    chains = jax.tree.leaves(params)[0].shape[0]
    noise = sampling_factor / batch_size
    examples = examples_at(model, SIGMA_EXAMPLES, jax.random.key(seed + 97), max(chains, draws_for))
    return np.asarray(_equilibria(ByIdentity(model), bracket, iterations, params, examples, step_size, temperature,
                                  weight_decay, noise), np.float64)


@functools.partial(jax.jit, static_argnums=(0, 1, 2))
def _equilibria(model: ByIdentity, bracket: float, iterations: int, params: Any, examples: Any, step_size: jax.Array,
                temperature: jax.Array, weight_decay: jax.Array, noise: jax.Array) -> jax.Array:
    """:func:`noise_equilibria` with ``noise`` = c/B: (chains, group.dim) a*; fresh ``examples`` of the first chains."""
    model = closed_form_chi(model.value)
    group, fresh, chain = model.group, model.data.examples is None, model.chain
    if fresh:
        examples = jax.tree.map(lambda x: x[:jax.tree.leaves(params)[0].shape[0]], examples)
    dtype = jax.flatten_util.ravel_pytree(jax.tree.map(lambda x: x[0], params))[0].dtype

    def drift(p, examples):
        t = chi_drift.drift_terms(model, p, examples, weight_decay, unbiased=fresh)
        return (step_size * t["first"] + 0.5 * step_size**2 * (t["curvature"] + noise * t["noise"])
                + step_size * temperature * t["laplacian"])

    # generators bisected together: (levels, width) of them, level k's at a.reshape(levels, width)[k]
    levels, width = (chain.depth - 1, chain.copies) if chain is not None else (group.dim, 1)

    def one(params, examples, k):
        def along(a):  # (width,) a on level k alone -> the drift of level k's χ
            moved = group.act(jnp.zeros((levels, width), dtype).at[k].set(a).reshape(-1), params)
            return drift(moved, examples).reshape(levels, width)[k]

        return chi_drift.bisect(along, jnp.full((width,), bracket, dtype), iterations)

    # one level at a time over the chains: all 200 of Fig. 6's copies as one-copy problems at once held
    # 59 MB per chain and copy (188 GB for 16 chains)
    per_chain = jax.vmap(one, (0, 0 if fresh else None, None))
    return jnp.moveaxis(jax.lax.map(lambda k: per_chain(params, examples, k), jnp.arange(levels)), 0, 1).reshape(
        -1, group.dim)
