"""``langevin-ib predict``: the correction and the predicted quotient densities of a config's model,
computed by autodiff from its declared symmetry, without simulating (docs/theory.md §2–4).

At a reference point (the model's initial parameters moved along their orbit onto the slice χ = 0)
it reports L_IB = (T/2)·log det G_χ, det G_χ against det H, and whether the Itô drift of χ under
the config's potential (weight decay included) attracts chains to the slice. For every
full-conditional form a run of the config plans (:func:`langevin_ib.experiment.plan.applicable`: the
variable histogrammed, the form built for the model, chains free, weight-decayed or projected),
it draws the density of copy 0's variable, every other parameter at the reference, under the form's
hypotheses. For a rescaling model's strength on the slice: ``geometric`` e^{−U/T}(det G_χ)^{−1/2}
(paper eq. 8) read in s, ``naive`` e^{−U/T} flat in the quotient chart, and ``projected``
e^{−U/T} on the slice, the law of Langevin constrained to it (Fixman 1974); with weight decay also
the density of the same strength with χ integrated over the fibre (:mod:`langevin_ib.predictions.rescaling.fibre`),
beside the slice density it is often mistaken for. For the GL(r) factorisation: its singular
values on the slice, on level sets and over the fibre, and its mode energies.
"""

from __future__ import annotations

import json
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from langevin_ib.statistics import pit
from langevin_ib.predictions.curves import density_curves
from langevin_ib.predictions import implied_bias
from langevin_ib import geometry, models
from langevin_ib.experiment import plan
from langevin_ib.experiment.config import Experiment
from langevin_ib.geometry import checks as symmetry_checks
from langevin_ib.base import ConfigError

def predict(experiment: Experiment, out: Path) -> dict:
    """Write prediction.json (and prediction.npz, prediction.png for the planned forms) into ``out``."""
    dyn, name = experiment.dynamics, experiment.model.name
    model = models.lookup(name).build({"name": name, **experiment.model.fields})
    if model.group is None:
        raise ConfigError(f"model.name: {name!r} declares no symmetry (no group action); nothing to predict")
    experiment = plan.planned(experiment, model)
    key = jax.random.key(experiment.run.seed)
    symmetry_checks.check_symmetry(name, model, key)
    temperature = dyn.temperature
    potential = model.potential(dyn.weight_decay)
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
    if model.synthesis is not None:
        summary["implied_bias"] = implied_bias.summary(model.synthesis, model.readout.truth["signal"], temperature)
    out.mkdir(parents=True, exist_ok=True)
    panels = {}
    for form_name, form in plan.forms(experiment).items():
        observable = form.observable(model)
        low, high = pit.strength_range(experiment.observables[observable], False, form.floor)[:2]
        panels[form_name] = (density_curves(model, reference, low, high, temperature, dyn.weight_decay, form),
                             form, observable)
    if panels:
        from langevin_ib.experiment import output, plots

        output.save_figures(out, {"prediction": plots.plot_prediction(panels, name)})
        np.savez(out / "prediction.npz", **{f"{form}_{k}": v for form, (curves, _, _) in panels.items()
                                            for k, v in curves.items()})
    (out / "prediction.json").write_text(json.dumps(summary, indent=2))
    return summary
