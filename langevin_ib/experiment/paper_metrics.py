"""End-of-run readouts of a run (docs/paper.md): the model's per-chain metrics and profiles
(:class:`langevin_ib.models.readout.Readout`) at the final step, as quantiles over the alive chains.

summary.json ``readout``: per metric (e.g. test MSE, total variation) its quantiles q5…q95 and mean over
chains, with the truth where the model gives one; histograms.npz ``readout_<profile>`` (len, 5): per
index the quantiles of a profile (e.g. the recovered signal), ``readout_<profile>_truth`` beside it;
``readout_bands_step`` and ``readout_bands_<name>`` (boundaries, [len,] 5): the same quantiles over time.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from langevin_ib.dynamics import readout_bands
from langevin_ib.dynamics.kernel import CHI_QUANTILES
from langevin_ib.models.base import Model

LEVELS = np.asarray(CHI_QUANTILES)


def profile_quantiles(length: int, columns, alive: np.ndarray) -> np.ndarray:
    """(length, 5): per index of a profile, the quantiles LEVELS in float64 over the ``alive`` chains whose
    whole profile is finite; ``columns(start)`` (:func:`langevin_ib.dynamics.readout_bands.profiles_of`)
    gives indices [start, start + width) of every chain's, fetched one block at a time (host and device
    memory O(chains × width), not the whole profile; the same numbers, each index's quantiles its own)."""
    part, starts = jax.jit(columns), range(0, length, readout_bands.width(length))
    kept = alive.copy()
    for start in starts:
        kept &= np.asarray(jnp.isfinite(part(start)).all(axis=1))
    if not kept.any():
        return np.full((length, LEVELS.size), np.nan)
    return np.concatenate([np.quantile(np.asarray(part(start), np.float64)[kept], LEVELS, axis=0).T for start in starts])


def readout(model: Model, result, position) -> tuple[dict, dict]:
    """(summary entries, histograms.npz arrays) of a run's final ``position`` (chains leading) and, where
    recorded, its readout bands over time (:mod:`langevin_ib.dynamics.readout_bands`)."""
    if model.readout is None:
        return {}, {}
    alive = ~np.asarray(result.final_state.diverged)
    metrics, arrays = {}, {}
    for name, value in jax.jit(lambda p: readout_bands.metrics_of(model.readout.of, p))(position).items():
        value = np.asarray(value, np.float64)
        kept = value[alive & np.isfinite(value)]
        entry = {"chains": int(kept.size)}
        if kept.size:
            entry.update({f"q{int(100 * q)}": float(x) for q, x in zip(LEVELS, np.quantile(kept, LEVELS))},
                         mean=float(kept.mean()))
        if name in model.readout.truth:
            entry["truth"] = float(model.readout.truth[name])
        metrics[name] = entry
    for name, (length, columns) in readout_bands.profiles_of(model.readout.of, position).items():
        arrays[f"readout_{name}"] = profile_quantiles(length, columns, alive)
        if name in model.readout.truth:
            arrays[f"readout_{name}_truth"] = np.asarray(model.readout.truth[name], np.float64)
    description = ("per alive chain at the final step, quantiles q5..q95 and mean over chains (non-finite chains "
                   "left out and counted by 'chains')")
    recorded = result.chunk_statistics.get("readout")
    if recorded is not None:
        arrays["readout_bands_step"] = np.asarray(recorded["step"])
        arrays.update({f"readout_bands_{k}": np.asarray(v, np.float64) for k, v in recorded["value"].items()})
    return {"readout": {"description": description, "metrics": metrics}}, {"readout_levels": LEVELS, **arrays}
