"""The predicted density of one copy's variable under each hypothesis of a conditional form, everything
else held at a reference point: the curves ``langevin-ib predict`` draws (docs/theory.md §4)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from langevin_ib.base import Binning
from langevin_ib.predictions.rescaling import level_set
from langevin_ib.statistics import pit

GRID = 400


def density_curves(model, reference, low: float, high: float, temperature: float, weight_decay: float,
                   form: pit.Form = level_set.LEVEL_SET) -> dict:
    """Normalised densities of copy 0's variable on [low, high] (``value``) under each hypothesis of
    ``form``, everything the form holds at ``reference``: e.g. a strength on its level set of χ
    (:mod:`langevin_ib.statistics.pit`) or, with weight decay, over the fibre (:mod:`langevin_ib.predictions.rescaling.fibre`);
    for a form traced along a curve, the density on the curve's component through the reference,
    averaged over GRID cells."""
    dtype = jax.tree.leaves(reference)[0].dtype
    if form.path is not None:  # a curve through the reference: the density from its CDF, per grid cell
        edges = np.linspace(low, high, GRID + 1)
        cdf_of = pit.conditional(form, model, temperature, weight_decay, Binning(low, high, GRID))
        value = form.variable.values(getattr(model, form.variable.source), reference)[0][0]
        cdf = jax.jit(lambda: cdf_of(reference, 0, value, low, high)[0](jnp.asarray(edges, dtype)))()
        density = np.diff(np.asarray(cdf, np.float64), axis=0) / np.diff(edges)[:, None]
        return {"value": 0.5 * (edges[1:] + edges[:-1]), **dict(zip(form.hypotheses, density.T))}
    grid = np.linspace(low, high, GRID + 1)[1:]  # s = 0 is where the orbit degenerates; skip the left end
    log_density = form.log_densities(model, temperature, weight_decay, Binning(low, high, GRID))
    logs = np.asarray(jax.jit(jax.vmap(lambda s: log_density(reference, 0, s)))(jnp.asarray(grid, dtype)), np.float64)
    curves = {"value": grid}
    for name, row in zip(form.hypotheses, logs.T):
        weights = np.exp(row - row.max())
        curves[name] = weights / np.trapezoid(weights, grid)
    return curves
