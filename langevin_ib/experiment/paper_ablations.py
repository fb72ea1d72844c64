"""Ablations of the paper's Figs. 2–4 (docs/paper.md): one set-up under four dynamics, to say which
mechanism moves the balance ratios. SGD (the paper's), full-batch GD, isotropic Langevin
(Euler–Maruyama) at SGD's effective temperature T_eff, and SGLD (SGD's minibatch plus noise at T_eff).

The predicted drift of χ per step of each (:func:`langevin_ib.predictions.chi_drift.drift_terms`,
docs/sgd.md) is a sum of four terms at θ:

    E[Δχ] = η·(−∇χ·ḡ) + ½η²·ḡᵀ∇²χḡ + ½η²(c/B)·tr(∇²χΣ) + ηT·Δχ
            gradient    discretisation   minibatch noise       thermal noise

GD has the first two, SGD adds the third, Langevin at T the first, second and fourth, SGLD all four.
For a symmetric loss without weight decay the first vanishes (every gradient is orthogonal to the orbit).
"""

from __future__ import annotations

import numpy as np

from langevin_ib.experiment import config as config_lib

DYNAMICS = ("sgd", "gd", "langevin", "sgld")
TERMS = ("gradient", "discretisation", "minibatch", "thermal")
USES = {"sgd": ("gradient", "discretisation", "minibatch"), "gd": ("gradient", "discretisation"),
        "langevin": ("gradient", "discretisation", "thermal"), "sgld": TERMS}
DRIFT_CHAINS = 16  # chains whose initial positions the predicted drift is evaluated at


def variant(raw: dict, name: str, temperature: float) -> dict:
    """The raw config of an SGD run ``raw`` under dynamics ``name`` (:data:`DYNAMICS`), with the same step
    size; ``temperature`` (SGD's T_eff) for Langevin and SGLD. Langevin runs take no Stein or conditional
    snapshots (``analysis.snapshot_every`` 0): the ablation reads the ratios, not the stationary law."""
    dynamics = dict(raw["dynamics"])
    minibatch = {k: dynamics.pop(k) for k in list(dynamics) if k in config_lib.MINIBATCH}
    integrator, kept = {"sgd": ("sgd", minibatch), "gd": ("gd", {}), "langevin": ("euler_maruyama", {}),
                        "sgld": ("sgld", minibatch)}[name]
    dynamics.update(kept, integrator=integrator, temperature=temperature if name in ("langevin", "sgld") else 0.0)
    analysis = {**raw.get("analysis", {}), **({"snapshot_every": 0} if name == "langevin" else {})}
    return {**raw, "dynamics": dynamics, "analysis": analysis}


def initial_positions(model, seed: int, chains: int = DRIFT_CHAINS):
    """The first ``chains`` chains' starting points of a run with ``seed`` (as
    :func:`langevin_ib.dynamics.kernel.initial_state` draws them): shared by the four dynamics."""
    import jax
    import jax.numpy as jnp

    from langevin_ib.dynamics import kernel as kernel_lib

    root = jax.random.split(kernel_lib.keys(seed).init)[0]
    return jax.vmap(model.init)(jax.vmap(jax.random.fold_in, (None, 0))(root, jnp.arange(chains)))


def predicted_terms(experiment, model, position, temperature: float) -> dict:
    """Per term of the module docstring, (chains, dim) at the first DRIFT_CHAINS chains of ``position``,
    for the step size, batch and sampling of the SGD ``experiment`` (B and c apply to the minibatch term),
    at ``temperature`` for the thermal one. ḡ and Σ from the model's data: its finite set, or 256 fresh
    examples per chain for a generator (the population's, also for GD and Langevin on a fresh-data model,
    which descend the loss of its finite sample)."""
    import jax
    from jax.flatten_util import ravel_pytree

    from langevin_ib.dynamics.integrators import sgd
    from langevin_ib.predictions import sgd_per_chain

    dyn = experiment.dynamics
    subset = jax.tree.map(lambda x: x[:DRIFT_CHAINS], position)
    flat = jax.vmap(lambda p: ravel_pytree(p)[0])(subset)
    unravel = ravel_pytree(jax.tree.map(lambda x: x[0], subset))[1]
    keys = jax.random.split(jax.random.key(experiment.run.seed), flat.shape[0])
    terms = {k: np.asarray(v, np.float64) for k, v in
             sgd_per_chain.terms_per_chain(model, dyn.weight_decay, unravel, flat,
                                           sgd_per_chain.examples_of(model, sgd_per_chain.SIGMA_EXAMPLES, keys)).items()}
    settings = dyn.minibatch
    batch = settings.batch_size
    factor = sgd.sampling_factor(settings.sampling, batch, model.data.size)
    eta = dyn.step_size
    return {"gradient": eta * terms["first"], "discretisation": 0.5 * eta**2 * terms["curvature"],
            "minibatch": 0.5 * eta**2 * factor / batch * terms["noise"], "thermal": eta * temperature * terms["laplacian"]}


def drift_summary(terms: dict) -> dict:
    """Per dynamics, the median over chains and copies of its predicted E[Δχ] per step and of |E[Δχ]|,
    and per term its median: the numbers of docs/paper.md's ablation tables."""
    out = {"terms": {k: float(np.median(v)) for k, v in terms.items()}}
    for name, used in USES.items():
        total = sum(terms[k] for k in used)
        out[name] = {"median": float(np.median(total)), "median_abs": float(np.median(np.abs(total)))}
    return out


def plot(title: str, runs: dict, temperature: float):
    """One panel per dynamics (``runs``: name -> the run's histograms.npz arrays): each index's median ratio
    over chains against the step (log scale), its 25–75 % band shaded, with χ's pooled median at the
    start and end in the panel's title."""
    from langevin_ib.experiment.plots import subplots

    fig, axes = subplots(1, len(runs), figsize=(4.0 * len(runs), 3.4), dpi=110, squeeze=False, sharey=True)
    for ax, (name, arrays) in zip(axes[0], runs.items()):
        if "readout_bands_ratio" not in arrays:
            continue
        steps, q = np.asarray(arrays["readout_bands_step"]), np.asarray(arrays["readout_bands_ratio"])
        for i in range(q.shape[1]):
            ax.fill_between(steps, q[:, i, 1], q[:, i, 3], color=f"C{i % 10}", alpha=0.2, lw=0)
            ax.plot(steps, q[:, i, 2], color=f"C{i % 10}", lw=1)
        ax.axhline(1.0, color="k", ls=":", lw=0.8)
        ax.set_yscale("log")
        ax.set_xlabel("step")
        ax.ticklabel_format(axis="x", style="sci", scilimits=(-3, 4))
        chi = np.asarray(arrays["chi_trace_quantiles"])[:, 2]
        label = {"langevin": f"Langevin at T_eff = {temperature:.2g}", "sgld": f"SGLD at T_eff = {temperature:.2g}",
                 "sgd": "SGD (paper)", "gd": "full-batch GD"}[name]
        ax.set_title(f"{label}\nmedian χ {chi[0]:.3g} → {chi[-1]:.3g}", fontsize=9)
    axes[0][0].set_ylabel("ratio per index: median, 25–75 %")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig
