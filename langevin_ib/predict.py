"""``langevin-ib predict``: the correction and the predicted quotient densities of a config's model,
computed by autodiff from its declared symmetry, without simulating (THEORY.md §2–4).

At a reference point (the model's initial parameters moved along their orbit onto the slice χ = 0)
it reports L_IB = (T/2)·log det G_χ, det G_χ against det H, and whether the Itô drift of χ under
the config's potential (weight decay included) attracts chains to the slice. If the model gives
``on_slice``, it draws along the first quotient coordinate q₀, the others held at the reference,
three unnormalised-then-normalised densities on the slice: ``naive`` e^{−U/T} in q;
``projected`` e^{−U/T}/J_φ, the law of Langevin constrained to the slice (Fixman 1974); and
``geometric`` e^{−U/T}(det G_χ)^{−1/2}/J_φ (paper eq. 8 with the chart Jacobian).
"""

from __future__ import annotations

import json
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from langevin_ib import geometry, models, symmetry_checks
from langevin_ib.schema import ConfigError

GRID = 400


def density_curves(model, potential, reference_q: jax.Array, low: float, high: float, temperature: float) -> dict:
    """Normalised naive / projected / geometric densities of q₀ on [low, high], the rest of q fixed."""
    grid = np.linspace(low, high, GRID + 1)[1:]  # q₀ = 0 is where the orbit degenerates; skip the left end
    grid = grid[np.abs(grid) > 1e-3 * (high - low)]

    def log_densities(q0):
        params = model.on_slice(reference_q.at[0].set(q0))
        energy = -potential(params) / temperature
        log_gram = geometry.log_det_breaking_gram(model.group, params)
        log_jacobian = geometry.chart_log_jacobian(model.chart, model.group, params)
        return jnp.stack([energy, energy - log_jacobian, energy - 0.5 * log_gram - log_jacobian])

    logs = np.asarray(jax.vmap(log_densities)(jnp.asarray(grid, reference_q.dtype)), np.float64)
    curves = {"q": grid}
    for name, row in zip(("naive", "projected", "geometric"), logs.T):
        weights = np.exp(row - row.max())
        curves[name] = weights / np.trapezoid(weights, grid)
    return curves


def predict(config: dict, out: Path) -> dict:
    model_cfg, dyn = config["model"], config["dynamics"]
    name = model_cfg["name"]
    model = models.lookup(name).build(model_cfg)
    if model.group is None:
        raise ConfigError(f"model.name: {name!r} declares no symmetry (no group action); nothing to predict")
    key = jax.random.key(config["run"]["seed"])
    symmetry_checks.check_symmetry(name, model, key)
    temperature = dyn["temperature"]
    potential = model.potential(dyn["weight_decay"])
    reference = geometry.project_to_slice(model.group, model.init(key))
    stability = geometry.slice_stability(potential, model.group, reference, temperature, jax.random.fold_in(key, 1))
    summary = {
        "model": name,
        "group_dimension": model.group.dim,
        "temperature": temperature,
        "correction_at_reference": float(geometry.correction(model.group, reference, temperature)),
        "log_det_breaking_gram": float(geometry.log_det_breaking_gram(model.group, reference)),
        "log_det_orbit_gram": float(jnp.linalg.slogdet(geometry.orbit_gram(model.group, reference))[1]),
        "slice": stability["label"],
        "chi_drift_on_slice": np.asarray(stability["drift_on_slice"]).tolist(),
        "radial_chi_drift_off_slice": stability["radial_drift_off_slice"],
    }
    out.mkdir(parents=True, exist_ok=True)
    if model.on_slice is not None and model.quotient in config["observables"]:
        from langevin_ib import plots

        binning = config["observables"][model.quotient]
        reference_q = jnp.ravel(model.observe(reference)[model.quotient])
        curves = density_curves(model, potential, reference_q, binning["min"], binning["max"], temperature)
        plots.plot_prediction(out / "prediction.png", curves, f"{model.quotient}[0]", name)
        np.savez(out / "prediction.npz", **curves)
    (out / "prediction.json").write_text(json.dumps(summary, indent=2))
    return summary
