"""The exact stationary law of SGD on u·v's balanced slice: the 1-D Markov chain θ' = θ(1 − ηg_B)² (docs/sgd.md).

Fresh data y = θ*x + σε, B examples, no weight decay, T = 0. On u = v = √θ one step is exactly
θ' = θ(1 − ηg_B)² with g_B = (1/B)Σ x_b(θx_b − y_b) = a(θ − θ*) − σe, a = (1/B)Σx_b² ~ Gamma(B/2,
scale 2/B) and, given x, e = (1/B)Σx_bε_b ~ N(0, a/B). So given a, w = 1 − ηg_B is Gaussian with

    m = 1 − ηa(θ − θ*),   s = ησ√(a/B),   P(θ' ≤ y | θ, a) = Φ((√(y/θ) − m)/s) − Φ((−√(y/θ) − m)/s),

and the kernel K(θ → cell) is the Gamma average of this (generalised Gauss–Laguerre in t = Ba/2, exact
for the one-step moments). θ stays ≥ 0. Cells are fine where a reference density (the θ-diffusion of
:mod:`langevin_ib.predictions.sgd_uv`) puts mass and at most ``max_log_width`` wide in log θ elsewhere,
over [θ_lo, θ_hi]; each cell is represented by its midpoint (Nyström). A step above θ_hi leaves
(the engine's divergence bound: |u| = |v| = √θ), one below θ_lo stays in the first cell. The
kernel is then sub-stochastic: the law of the surviving chains is its leading left eigenvector (the
quasi-stationary law, by inverse iteration) and 1 − eigenvalue the divergence rate per step.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import numpy as np
from scipy import linalg, special

from langevin_ib.predictions import sgd_uv


class ChainLaw(NamedTuple):
    """Cell edges (N + 1,), the stationary mass of each cell (N,), and the leading eigenvalue
    (1 − the probability per step of leaving above θ_hi)."""

    edges: np.ndarray
    masses: np.ndarray
    survival: float


def cell_edges(*, step_size: float, batch_size: int, label_noise: float, target: float, theta_range: tuple,
               bulk_cells: int, slope_step: float, max_log_width: float, depth: float = 60.0) -> np.ndarray:
    """Edges in z = log θ at equal steps of s(z) = ∫(bulk_cells·p + |d log p̃/dz|/slope_step + 1/max_log_width)dz,
    p the θ-diffusion's density in z (normalised), p̃ the same clipped at ``depth`` below its maximum: per
    cell at most ~1/bulk_cells of reference mass, a change of ~slope_step in log p̃, and max_log_width."""
    z = np.linspace(np.log(theta_range[0]), np.log(theta_range[1]), 40001)
    log_p = sgd_uv.log_density(np.exp(z), step_size=step_size, batch_size=batch_size, label_noise=label_noise,
                               target=target) + z  # density in z
    log_p -= log_p.max()
    p = np.exp(log_p)
    p /= np.sum(0.5 * (p[1:] + p[:-1]) * np.diff(z))
    slope = np.abs(np.gradient(np.maximum(log_p, -depth), z))
    rate = bulk_cells * p + slope / slope_step + 1.0 / max_log_width
    s = np.concatenate([[0.0], np.cumsum(0.5 * (rate[1:] + rate[:-1]) * np.diff(z))])
    cells = int(np.ceil(s[-1]))
    return np.exp(np.interp(np.linspace(0.0, s[-1], cells + 1), s, z))


def normal_cdf(z: np.ndarray) -> np.ndarray:
    """Φ(z) = ½erfc(−z/√2): scipy's ``ndtr`` computes the same to rounding, about 7× slower (measured)."""
    return 0.5 * special.erfc(-z * np.sqrt(0.5))


def transition_matrix(edges, *, step_size: float, batch_size: int, label_noise: float, target: float,
                      gamma_nodes: int, sources=None, block: int = 16) -> np.ndarray:
    """P[i, j] = P(θ' ∈ cell j | θ = sources[i]) (by default the cell midpoints); mass below edges[0] goes to
    cell 0, above edges[-1] is lost."""
    edges = np.asarray(edges, float)
    nodes = 0.5 * (edges[1:] + edges[:-1]) if sources is None else np.asarray(sources, float)
    t, weights = special.roots_genlaguerre(gamma_nodes, batch_size / 2 - 1)  # weight t^(B/2 − 1) e^(−t)
    a, weights = 2 * t / batch_size, weights / special.gamma(batch_size / 2)  # (K,)
    s = step_size * label_noise * np.sqrt(a / batch_size)  # (K,)
    out = np.empty((nodes.size, edges.size - 1))
    for start in range(0, nodes.size, block):
        theta = nodes[start:start + block, None, None]  # (b, 1, 1)
        m = 1 - step_size * a[None, :, None] * (theta - target)  # (b, K, 1)
        root = np.sqrt(edges[None, None, :] / theta)  # (b, 1, N + 1)
        cdf = normal_cdf((root - m) / s[None, :, None]) - normal_cdf((-root - m) / s[None, :, None])
        cdf = np.einsum("k,bkj->bj", weights, cdf)
        cdf[:, 0] = 0.0  # below θ_lo: into the first cell
        out[start:start + block] = np.diff(cdf, axis=1)
    return out


@functools.lru_cache(maxsize=32)
def stationary(*, step_size: float, batch_size: int, label_noise: float, target: float, theta_max: float,
               theta_min: float = 1e-12, bulk_cells: int = 400, slope_step: float = 0.2,
               max_log_width: float = 0.1, gamma_nodes: int = 32) -> ChainLaw:
    """The chain's (quasi-)stationary law on [theta_min, theta_max] (module docstring); cached by its
    arguments, so the sweep points (or runs) of one (η, B, σ, θ*) build its kernel once."""
    kwargs = dict(step_size=step_size, batch_size=batch_size, label_noise=label_noise, target=target)
    edges = cell_edges(**kwargs, theta_range=(theta_min, theta_max), bulk_cells=bulk_cells, slope_step=slope_step,
                       max_log_width=max_log_width)
    kernel = transition_matrix(edges, **kwargs, gamma_nodes=gamma_nodes)
    factor = linalg.lu_factor(kernel.T - (1 + 1e-9) * np.eye(kernel.shape[0]))
    vector = np.full(kernel.shape[0], 1.0 / kernel.shape[0])
    for _ in range(3):  # the leading eigenvalue is within ~1e-9 of the shift, the next ~2ηθ* below
        vector = linalg.lu_solve(factor, vector)
        vector /= vector.sum()
    masses = np.maximum(vector, 0.0)
    masses /= masses.sum()
    edges.setflags(write=False), masses.setflags(write=False)  # shared by every caller of the cache
    return ChainLaw(edges, masses, float(masses @ kernel.sum(axis=1)))


def bin_probabilities(edges, law: ChainLaw) -> np.ndarray:
    """Probability of each histogram bin (``edges``), normalised over the binned range; the law is taken
    uniform within each of its cells."""
    cumulative = np.concatenate([[0.0], np.cumsum(law.masses)])
    at = np.interp(np.asarray(edges, float), law.edges, cumulative, left=0.0, right=1.0)
    masses = np.diff(at)
    return masses / masses.sum()
