"""One table per run of a full conditional CDF that depends on the chain only through a level ℓ ≥ 0 of
the conserved quantity and the sign of the variable (docs/theory.md §4a, §8; u·v's θ given χ, ℓ = |u² − v²|):
the conditional CDF F(s | ℓ) and density f(s | ℓ) = ∂F/∂s on fixed nodes in s for a grid of levels, built
once, then read per chain by interpolation instead of a quadrature per chain and snapshot.

Levels: uniform in w = asinh(ℓ/ℓ₀) with ℓ₀ the lower end of the range of s, up to ℓ_max = LEVEL_SPAN·(upper
end), so that the grid is linear in ℓ where F depends on ℓ² (ℓ ≪ ℓ₀) and logarithmic beyond. A chain at
ℓ > ℓ_max has no row: its conditional is undefined (counted and left out by :func:`pit.tests`, a selection on
the conditioning variable that keeps the PIT of the rest uniform). In s: cubic Hermite between nodes
(F and f at both ends), error O(h⁴ f'''); in w: Catmull–Rom over four rows, error O(Δw⁴ ∂⁴F/∂w⁴). F on
the nodes is the trapezoid rule on REFINE sub-nodes per node interval. The bound on the resulting error in F
is measured against the exact per-chain quadrature in tests/predictions/test_conditional_table.py.
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

LEVELS = 256  # rows of w ∈ [0, w_max]; two more pad the Catmull–Rom stencil at the ends
LEVEL_SPAN = 1e3  # ℓ_max / (upper end of s)
REFINE = 4  # trapezoid sub-nodes per stored node interval


class Levels(NamedTuple):
    """How a form's conditional depends on the chain, where it does only through a level and a sign:
    ``level(params, copy) -> ℓ ≥ 0``, and ``place(level, sign) -> (params, copy)``, a chain whose
    ``copy`` sits at that level with that sign (the conditional of that copy is the table's row)."""

    level: Callable
    place: Callable


class Table(NamedTuple):
    """Per branch b (0: sign +, 1: sign −; one branch where the variable has one sign in range): ``nodes``
    (branches, n) in s, ``cdf`` and ``density`` (branches, rows, n, hypotheses) normalised on [lo_b, hi_b], the
    level scale ``unit`` ℓ₀ and the row step ``step`` in w."""

    nodes: np.ndarray
    cdf: jax.Array
    density: jax.Array
    unit: float
    step: float


def branch_nodes(lo: float, hi: float, edges: np.ndarray, linear: int, geometric: int) -> np.ndarray:
    """Sorted distinct nodes on [lo, hi]: ``linear`` per unit interval of ``edges`` (the branch's bin edges,
    clipped), ``geometric`` log-spaced ones and the clipped edges themselves (lo < hi)."""
    edges = np.clip(np.asarray(edges, float), lo, hi)
    between = [np.linspace(a, b, linear + 1) for a, b in zip(edges[:-1], edges[1:]) if b > a]
    nodes = np.concatenate([np.array([lo, hi]), edges, *between, np.geomspace(lo, hi, geometric)])
    return np.unique(np.clip(nodes, lo, hi))


def build(log_density: Callable, levels: Levels, nodes: tuple[np.ndarray, np.ndarray], dtype) -> Table:
    """The table of ``log_density(params, copy, s) -> (hypotheses,)`` on the nodes of each branch
    (``nodes`` (+, −) or (+,), from :func:`branch_nodes`): one compiled call, or part of the caller's program where
    the log density is traced in temperature or weight decay (a run's statistics are built inside its
    program, outside the map over chains: one table per call)."""
    unit = float(min(n[0] for n in nodes))
    width = max(len(n) for n in nodes)
    step = float(np.arcsinh(LEVEL_SPAN * max(n[-1] for n in nodes) / unit)) / (LEVELS - 1)
    w = step * (np.arange(LEVELS + 2) - 1.0)
    level_of_row = jnp.asarray(unit * np.sinh(np.abs(w)), dtype)  # row 0 mirrors row 2: F is even in w

    def row(level, sign, fine):
        params, copy = levels.place(level, sign)
        logs = jax.vmap(lambda s: log_density(params, copy, s))(fine)  # (fine, hypotheses)
        weights = jnp.exp(logs - logs.max(axis=0, keepdims=True))
        cumulative = _cumulative(0.5 * (weights[1:] + weights[:-1]) * jnp.diff(fine)[:, None])
        total = cumulative[-1:]
        return (cumulative / total)[::REFINE], (weights / total)[::REFINE]

    padded = np.stack([np.concatenate([branch, np.full(width - len(branch), branch[-1])]) for branch in nodes])
    fine = np.stack([np.concatenate([np.linspace(a, b, REFINE + 1)[:-1] for a, b in zip(pad[:-1], pad[1:])] + [pad[-1:]])
                     for pad in padded])  # same width for both branches
    by_level = jax.vmap(row, (0, None, None))
    cdf, density = jax.jit(jax.vmap(by_level, (None, 0, 0)))(level_of_row, jnp.asarray([1.0, -1.0][:len(nodes)], dtype),
                                                              jnp.asarray(fine, dtype))
    host = lambda x: x if isinstance(x, jax.core.Tracer) else np.asarray(x)  # concrete: a constant, placed by its user
    return Table(padded.astype(dtype), host(cdf), host(density), unit, step)


def _cumulative(terms: jax.Array, block: int = 64) -> jax.Array:
    """(len + 1, …) partial sums of ``terms`` from 0, in blocks: rounding grows like (block + len/block)·ε
    rather than len·ε."""
    count = terms.shape[0]
    padded = jnp.concatenate([terms, jnp.zeros((-count % block, *terms.shape[1:]), terms.dtype)])
    blocks = padded.reshape(-1, block, *terms.shape[1:])
    inner = jnp.cumsum(blocks, axis=1)
    before = jnp.cumsum(inner[:, -1], axis=0) - inner[:, -1]
    sums = (inner + before[:, None]).reshape(padded.shape)[:count]
    return jnp.concatenate([jnp.zeros((1, *terms.shape[1:]), terms.dtype), sums])


def cdf_at(table: Table, level: jax.Array, sign: jax.Array) -> tuple[Callable, jax.Array]:
    """(``cdf(x) -> (*x.shape, hypotheses)``, whether ``level`` lies in the table) for one chain."""
    branch = (sign < 0).astype(int) if table.nodes.shape[0] == 2 else 0
    t = jnp.arcsinh(level / table.unit) / table.step + 1.0
    defined = (t <= LEVELS) & jnp.isfinite(t)
    i = jnp.clip(jnp.floor(t), 1, LEVELS - 1).astype(int)
    u = jnp.clip(t - i, 0.0, 1.0)
    across = jnp.stack([(-u**3 + 2 * u**2 - u) / 2, (3 * u**3 - 5 * u**2 + 2) / 2,
                        (-3 * u**3 + 4 * u**2 + u) / 2, (u**3 - u**2) / 2])  # Catmull–Rom weights of the rows
    # the four rows by dynamic slices (a table built in the caller's program may not be gathered from per chain)
    start, size = (branch, i - 1, 0, 0), (1, 4, *table.cdf.shape[2:])
    cdf, density = (jax.lax.dynamic_slice(a, start, size)[0] for a in (table.cdf, table.density))
    nodes = jnp.asarray(table.nodes)[branch]

    def fn(x):
        x = jnp.clip(x, nodes[0], nodes[-1])
        k = jnp.clip(jnp.searchsorted(nodes, x, side="right") - 1, 0, nodes.shape[0] - 2)
        h = jnp.maximum(nodes[k + 1] - nodes[k], jnp.finfo(nodes.dtype).tiny)
        v, h = ((x - nodes[k]) / h)[None, ..., None], h[None, ..., None]  # broadcast against (4, *x.shape, hypotheses)
        r = jnp.arange(4).reshape((4,) + (1,) * jnp.ndim(x))
        hermite = ((2 * v**3 - 3 * v**2 + 1) * cdf[r, k] + (v**3 - 2 * v**2 + v) * h * density[r, k]
                   + (3 * v**2 - 2 * v**3) * cdf[r, k + 1] + (v**3 - v**2) * h * density[r, k + 1])
        return jnp.clip(jnp.tensordot(across, hermite, axes=1), 0.0, 1.0)

    return fn, defined
