"""The tests of stochastic-gradient runs (docs/sgd.md): balancing bands, the χ-drift test, the noise
equilibrium, the effective temperature and, for u·v, the stationary law on the balanced slice.

- Bands (:func:`chunk_statistics`): at step 0 and every chunk boundary, the CHI_QUANTILES over chains
  (copies pooled) of χ and of each balance ratio ‖f_{a+1}‖/‖f_a‖ of the model's rescaling chain
  (relu |v_j|/‖W_j‖, attention ‖K_j‖/‖Q_j‖, matrix factorisation ‖V_j‖/‖U_j‖, u·v |v|/|u|); and the
  positions of the first chains, for the drift test (:mod:`langevin_ib.dynamics.chunk_statistics`).
- χ drift (:func:`drift_test`): from each recorded boundary position θ_t of chain c, the run's next
  step is re-taken (:func:`langevin_ib.dynamics.replay.one_step`, the run's own step key) and its Δχ
  (in float64) held against a hypothesis' one-step drift p(θ_t) (:func:`langevin_ib.predictions.sgd_per_chain.increments`):
  E[Δχ | θ_t] = p(θ_t) exactly for quadratic χ, with no window approximation. Binned by deciles of
  χ_t, the chains' per-bin residual sums tested jointly by Hotelling's T²
  (:func:`langevin_ib.statistics.drift.binned_test`).
  Hypotheses: ``sgd`` (minibatch noise, B, sampling factor c, SGLD temperature) and ``langevin``
  (the isotropic Euler–Maruyama step at T_eff for SGD chains, at T for noisy ones).
- Stationary covariance (:func:`covariance_test`), for a model that declares linear-Gaussian
  regression as its closed form: each chain's final deviation e = w − w* gives one sample of e eᵀ
  (chains are independent), held against the exact SGD covariance and against Langevin's at the
  naive T_eff (:func:`langevin_ib.predictions.sgd_linear.predicted_second_moments`) by Hotelling's
  test (:mod:`langevin_ib.statistics.hotelling`).
"""

from __future__ import annotations

import functools

import jax
import jax.flatten_util
import jax.numpy as jnp
import numpy as np

from langevin_ib.dynamics import chunk_statistics as chunk_lib, kernel as kernel_lib, readout_bands, replay
from langevin_ib.dynamics.integrators import Hyperparameters, Integrator, sgd
from langevin_ib.dynamics.kernel import CHI_QUANTILES
from langevin_ib.geometry import breaking
from langevin_ib.models.base import Model
from langevin_ib.numerics.by_identity import ByIdentity
from langevin_ib.predictions import sgd_linear, sgd_per_chain
from langevin_ib.statistics import drift as drift_lib, hotelling

DRIFT_BINS = 10
DRIFT_DRAWS = 8  # one-step draws averaged per recorded position: a single draw's Δχ is heavy-tailed (relu at
# initialisation: skewness −8, kurtosis 150), which skews the per-bin z of a few hundred chains
DRIFT_SAMPLES = 2**15  # chain-boundary samples at most: boundaries evenly spaced (docs/engineering.md: uv_sgd's
# langevin X² stays ~1e4 above its 23.2 threshold at this size, and each boundary costs one pass of the terms)


def chunk_statistics(model: Model) -> dict:
    """The runner's chunk statistics of a stochastic-gradient run of ``model``."""
    out = {} if model.readout is None else {"readout": readout_bands.bands}
    if model.symmetry is None:
        return out
    out["chi"] = kernel_lib.chi_quantiles
    if model.symmetry is not None:
        out.update(bands=chunk_lib.bands)
        if model.group is not None:
            out.update(positions=chunk_lib.positions)
    return out


def band_arrays(result) -> dict:
    """histograms.npz arrays of the bands: step, levels, χ quantiles (n, Q), balance (n, k − 1, Q)."""
    if "bands" not in result.chunk_statistics:
        return {}
    recorded = result.chunk_statistics["bands"]
    arrays = {"bands_step": recorded["step"], "bands_levels": np.asarray(CHI_QUANTILES),
              "bands_chi": recorded["value"]["chi"]}
    if "balance" in recorded["value"]:
        arrays["bands_balance"] = recorded["value"]["balance"]
    return arrays


def band_summary(arrays: dict) -> dict:
    """summary.json's bands: quantile levels, steps and each band per boundary (as lists)."""
    if not arrays:
        return {}
    out = {"levels": list(CHI_QUANTILES), "step": arrays["bands_step"].tolist(), "chi": arrays["bands_chi"].tolist()}
    if "bands_balance" in arrays:
        out["balance"] = arrays["bands_balance"].tolist()
    return out


RESOLUTION = 8  # |χ| ≤ RESOLUTION·eps·|θ|² is below what the positions resolve (float32: ~2e-6 at |θ|² = 2)


def draw_keys(noise_key: jax.Array, draws: int) -> list:
    """The noise keys of the drift test's ``draws`` one-step draws: the run's own (draw 0: the step each
    chain took), then independent ones."""
    redraw = jax.random.split(noise_key)[1]
    return [noise_key] + [jax.random.fold_in(redraw, j) for j in range(1, draws)]


def chi64(model: Model):
    """``position -> (chains, copies)`` χ in float64 from (float32) positions: a one-step Δχ is far below
    χ's own float32 rounding."""

    def wide(position):
        with jax.enable_x64(True):
            return np.asarray(_chi(ByIdentity(model), jax.tree.map(lambda x: jnp.asarray(np.asarray(x, np.float64)), position)))

    return wide


@functools.partial(jax.jit, static_argnums=0)
def _chi(model: ByIdentity, position) -> jax.Array:
    return jax.vmap(lambda p: breaking(model.value.group, p))(position)


@functools.partial(jax.jit, static_argnums=0)
def _terms(model: ByIdentity, weight_decay: jax.Array, template, flat: jax.Array, examples) -> dict:
    """:func:`sgd_per_chain.terms_per_chain` with the positions' structure read from ``template`` (one
    chain's position) and λ traced: one compiled function per model and shapes."""
    unravel = jax.flatten_util.ravel_pytree(template)[1]
    return sgd_per_chain.terms_per_chain(model.value, weight_decay, unravel, flat, examples)


def drift_test(model: Model, step, noise_key: jax.Array, recorded: dict, step_size: float, temperature: float,
               weight_decay: float, batch_size: int, sampling_factor: float, langevin_temperature: float,
               significance: float, seed: int = 0, draws: int = DRIFT_DRAWS) -> dict:
    """The χ-drift test of the module docstring on the recorded boundary positions.

    Args:
      step, noise_key: :func:`langevin_ib.dynamics.replay.one_step` of the run and its noise key (``kernel.keys(seed).noise``);
        Δχ is the mean over ``draws`` draws of the next step (:func:`draw_keys`).
      recorded: ``chunk_statistics["positions"]`` of the run.
      temperature: the run's noise temperature (0 for SGD); ``langevin_temperature``: the Langevin
        hypothesis' (T_eff for SGD chains).
    Returns:
      :func:`langevin_ib.statistics.drift.binned_test`'s dict with a description, ``below_resolution``
      and ``chains``; per hypothesis (``sgd``, ``langevin``) X², dof, p, verdict, z per bin.
    """
    chains = jax.tree.leaves(recorded["value"])[0].shape[1]
    kept = np.unique(np.linspace(0, len(recorded["step"]) - 1, max(1, DRIFT_SAMPLES // chains)).round().astype(int))
    steps, values = recorded["step"][kept], jax.tree.map(lambda x: x[kept], recorded["value"])
    positions = values["position"]
    leaves = jax.tree.leaves(positions)
    boundaries, chains = leaves[0].shape[:2]
    template = jax.tree.map(lambda x: jnp.asarray(x[0, 0]), positions)
    flat = np.concatenate([np.asarray(x).reshape(boundaries, chains, -1) for x in leaves], axis=-1)
    root = jax.random.key(seed + 7919)
    keys_of_draws, chi = draw_keys(noise_key, draws), chi64(model)
    terms, start, increment = [], [], []
    for t in range(boundaries):
        at = jax.tree.map(lambda x: jnp.asarray(x[t]), positions)
        examples = sgd_per_chain.examples_at(model, sgd_per_chain.SIGMA_EXAMPLES, jax.random.fold_in(root, t), chains)
        terms.append(jax.tree.map(np.asarray, _terms(ByIdentity(model), weight_decay, template, jnp.asarray(flat[t]), examples)))
        start.append(chi(at))
        moved = jax.tree.map(lambda *x: np.concatenate(x), *[step(at, key, jnp.int32(steps[t])) for key in keys_of_draws])
        increment.append(chi(moved).reshape(draws, chains, -1).mean(axis=0) - start[-1])
    terms = {k: np.stack([np.asarray(d[k], np.float64) for d in terms]) for k in terms[0]}  # (boundaries, chains, m)
    start, increment = np.stack(start), np.stack(increment)
    predicted = sgd_per_chain.increments(terms, step_size, temperature, sampling_factor, batch_size, langevin_temperature)
    alive = ~np.asarray(values["diverged"])[:, :, None] & np.isfinite(increment)
    # χ below the positions' rounding (|χ| ≲ eps·|θ|²) is rounding noise, not dynamics: a balanced chain
    # in float32 sits there, and its Δχ would test the arithmetic. Such samples are left out and counted.
    scale = np.sum(flat.astype(np.float64) ** 2, axis=-1)[:, :, None]
    resolved = np.abs(start) > RESOLUTION * np.finfo(leaves[0].dtype).eps * scale
    out = drift_lib.binned_test(start, increment, predicted, alive & resolved, significance, DRIFT_BINS)
    out.update(description=f"one-step Δχ at {boundaries} chunk boundaries (mean of {draws} draws of each chain's next "
                           f"step, the first the run's own) against the predicted E[Δχ | θ], {DRIFT_BINS} deciles of χ, "
                           "tested jointly over the chains",
               statistic="Hotelling T² of the chains' per-bin residual sums, F on (bins, chains − bins) dof",
               significance=significance, chains=int(chains),
               below_resolution=int((alive & ~resolved).sum()))
    return out


def _quantiles(x: np.ndarray) -> dict:
    x = x[np.isfinite(x)]
    return {f"q{int(100 * q)}": float(np.quantile(x, q)) for q in CHI_QUANTILES} if x.size else {}


def analyse(experiment, model: Model, result, integrator: Integrator,
            hyperparameters: Hyperparameters) -> tuple[dict, dict]:
    """(summary entries, histograms.npz arrays) of a stochastic-gradient run of ``integrator`` at
    ``hyperparameters``: ``bands``, ``effective_temperature``, ``chi_drift`` (plain SGD/SGLD updates
    only), ``noise_equilibrium`` and, for u·v, ``stationary_law``."""
    dyn, run = experiment.dynamics, experiment.run
    settings = dyn.minibatch
    arrays = band_arrays(result)
    summary = {"bands": band_summary(arrays)}
    if model.closed_form is not None and model.closed_form[0] == sgd_linear.LAW and settings.batch_size is not None:
        summary["stationary_covariance"] = covariance_test(experiment, model, result, integrator)
    if "positions" not in result.chunk_statistics or model.data is None or settings.batch_size is None:
        return summary, arrays
    recorded = result.chunk_statistics["positions"]
    # host arrays, sliced and flattened by numpy: each eager jnp slice or concatenation would compile a program
    last = jax.tree.map(lambda x: np.asarray(x[-1]), recorded["value"]["position"])
    alive = ~np.asarray(recorded["value"]["diverged"][-1])
    if not alive.any():  # every chain diverged: no T_eff, χ drift or equilibrium to estimate, so no verdict
        return _with_stationary_law(summary, arrays, experiment, result)
    flat = np.concatenate([x.reshape(x.shape[0], -1) for x in jax.tree.leaves(last)], axis=1)  # ravel_pytree per chain
    batch = settings.batch_size
    t_local = sgd_per_chain.local_temperature(model, jnp.asarray(flat[:1024]), jax.tree.map(lambda x: x[0], last),
                                              dyn.step_size, batch, run.seed)
    t_eff = float(np.median(t_local[alive[:1024]])) + dyn.temperature
    summary["effective_temperature"] = {
        "definition": "T + η tr Σ(θ)/(2B·d) per chain at the final step, d = number of parameters, Σ the "
                      "per-example gradient covariance (isotropic local form); median over chains",
        "value": t_eff, "quantiles": _quantiles(t_local[alive[:1024]])}
    plain = settings.optimizer == "sgd" and not settings.optimizer_args
    factor = sgd.sampling_factor(settings.sampling, batch, model.data.size)
    if plain:
        step = replay.one_step(integrator, hyperparameters)
        summary["chi_drift"] = drift_test(model, step, kernel_lib.keys(run.seed).noise, recorded, dyn.step_size, dyn.temperature, dyn.weight_decay,
                                          batch, factor, t_eff if not dyn.temperature else dyn.temperature,
                                          experiment.analysis.significance, run.seed)
        subset = jax.tree.map(lambda x: x[:16], last)
        a_star = sgd_per_chain.noise_equilibria(model, subset, dyn.step_size, dyn.temperature, dyn.weight_decay, batch, factor,
                                                run.seed, draws_for=flat.shape[0])  # the drift test's draw, compiled once
        ratios = np.asarray(chunk_lib.balance_ratios(model, subset), np.float64)[:, 0] if model.chain is not None else None
        entry = {"description": "per copy of 16 final chains, the orbit point where the predicted SGD drift of its χ "
                                "vanishes (bisection on the copy's rescaling e^{a})",
                 "a_star": _quantiles(a_star), "bracketed_fraction": float(np.mean(np.isfinite(a_star)))}
        if ratios is not None and model.chain.depth == 2:
            equilibrium = ratios * np.exp(-2 * a_star)
            entry.update(ratio_at_equilibrium=_quantiles(equilibrium), ratio_observed=_quantiles(ratios),
                         log_ratio_observed_minus_equilibrium=_quantiles(np.log(ratios / equilibrium)))
        summary["noise_equilibrium"] = entry
        arrays["noise_equilibrium_a"] = a_star
    return _with_stationary_law(summary, arrays, experiment, result)


def covariance_test(experiment, model: Model, result, integrator: Integrator) -> dict:
    """The stationary-covariance test of the module docstring on the run's final positions (alive chains)."""
    law = dict(model.closed_form[1])
    dyn = experiment.dynamics
    final = np.asarray(integrator.position(result.final_state.integrator)[model.quotient], np.float64)
    alive = ~np.asarray(result.final_state.diverged)
    samples = sgd_linear.second_moments(final[alive] - law["target"])
    predicted = sgd_linear.predicted_second_moments(np.diag(law["scales"]), dyn.step_size, dyn.minibatch.batch_size,
                                                    law["label_noise"], dyn.temperature)
    out = hotelling.test(samples, predicted, experiment.analysis.significance)
    out.update(description="E[e eᵀ] (upper triangle), e = w − w* at each alive chain's final step, against SGD's exact "
                           "stationary covariance and Langevin's at the naive T_eff; Hotelling's T², F reference",
               significance=experiment.analysis.significance)
    return out


def _with_stationary_law(summary: dict, arrays: dict, experiment, result) -> tuple[dict, dict]:
    """``summary`` and ``arrays`` with u·v's ``stationary_law`` (:func:`langevin_ib.experiment.sgd_stationary.uv_slice_law`)."""
    from langevin_ib.experiment import sgd_stationary

    law = sgd_stationary.uv_slice_law(experiment, result)
    if law is not None:
        summary[sgd_stationary.NAME], law_arrays = law
        arrays = {**arrays, **law_arrays}
    return summary, arrays


def plot_bands(arrays: dict, model: Model, burn_in: int):
    """bands.png: the 5–95 % and 25–75 % bands and the median over chains of χ and of each balance ratio
    against the step (the paper's Figs. 2–4 panels, as bands over chains)."""
    from matplotlib.ticker import MaxNLocator

    from langevin_ib.experiment.plots import subplots

    panels = [("χ", arrays["bands_chi"])]
    if "bands_balance" in arrays:
        balance = arrays["bands_balance"]
        panels += [(f"‖f{a + 2}‖/‖f{a + 1}‖" if balance.shape[1] > 1 else "balance ratio ‖f2‖/‖f1‖", balance[:, a])
                   for a in range(balance.shape[1])]
    steps = arrays["bands_step"]
    fig, axes = subplots(1, len(panels), figsize=(4.5 * len(panels), 3.4), dpi=110, squeeze=False)
    for ax, (label, q) in zip(axes[0], panels):
        ax.fill_between(steps, q[:, 0], q[:, 4], color="tab:blue", alpha=0.2, label="5–95 %")
        ax.fill_between(steps, q[:, 1], q[:, 3], color="tab:blue", alpha=0.4, label="25–75 %")
        ax.plot(steps, q[:, 2], color="tab:blue", lw=1.4, label="median")
        if burn_in:
            ax.axvline(burn_in, color="0.5", ls=":", lw=1)
        ax.set_xlabel("step")
        ax.xaxis.set_major_locator(MaxNLocator(5))
        ax.ticklabel_format(axis="x", style="sci", scilimits=(-3, 4))
        ax.set_ylabel(label)
        ax.legend(fontsize=8)
    fig.suptitle(f"quantiles over chains and copies: {model.symmetry} and the balance ratios", fontsize=10)
    fig.tight_layout()
    return fig
