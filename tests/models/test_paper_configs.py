"""The paper's configs (configs/paper_*.yaml, relu_paper_fig2.yaml) and scripts/reproduce_paper.py's
set: every config, with and without --short's overrides, validates and builds its model; an unknown
figure in --only is refused with exit status 2 before anything runs."""

import importlib.util
from pathlib import Path

import pytest

from langevin_ib.experiment import config as config_lib, job

ROOT = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("reproduce_paper", ROOT / "scripts" / "reproduce_paper.py")
reproduce_paper = importlib.util.module_from_spec(spec)
spec.loader.exec_module(reproduce_paper)
RUNS = [(figure, config) for figure, runs in reproduce_paper.FIGURES.items() for _, config in runs]


@pytest.mark.parametrize("figure, config", RUNS)
def test_every_paper_config_validates_full_and_short(figure, config):
    for overrides in ([], reproduce_paper.SHORT[figure]):
        experiment = config_lib.load(ROOT / "configs" / config, overrides)
        assert experiment.run.steps > 0
    model = job.build_model(experiment)
    assert model.loss is not None and (figure == "fig2" or model.readout is not None)


def test_unknown_figure_is_refused():
    with pytest.raises(SystemExit) as exit_:
        reproduce_paper.main(["--only", "fig9"])
    assert exit_.value.code == 2


@pytest.mark.parametrize("figure", sorted(reproduce_paper.ABLATION_SHORT))
def test_every_ablation_variant_validates(figure):
    """Figs. 2–4 under each of the four dynamics (experiment/paper_ablations.py): GD and Langevin carry no
    minibatch settings, SGD and SGLD the paper's; Figs. 5–6's SGD overrides validate too."""
    from langevin_ib.experiment import paper_ablations

    raw = config_lib.read(ROOT / "configs" / reproduce_paper.FIGURES[figure][0][1])
    integrators = {}
    for name in paper_ablations.DYNAMICS:
        experiment = config_lib.resolve(paper_ablations.variant(raw, name, 1e-4))
        config_lib.resolve(config_lib.apply_overrides(paper_ablations.variant(raw, name, 1e-4),
                                                      reproduce_paper.ABLATION_SHORT[figure]))
        assert (experiment.analysis.snapshot_every == 0) == (name == "langevin")
        integrators[name] = experiment.dynamics.integrator
        assert (experiment.dynamics.temperature > 0) == (name in ("langevin", "sgld"))
        assert (experiment.dynamics.minibatch is not None and experiment.dynamics.minibatch.batch_size is not None) \
            == (name in ("sgd", "sgld"))
    assert integrators == {"sgd": "sgd", "gd": "gd", "langevin": "euler_maruyama", "sgld": "sgld"}
    for sgd_figure, overrides in reproduce_paper.ABLATION_SGD.items():
        for _, config in reproduce_paper.FIGURES[sgd_figure]:
            assert config_lib.load(ROOT / "configs" / config, overrides).dynamics.integrator == "sgd"


def test_predicted_drift_terms_of_uv_pull_chi_to_zero_and_gd_lacks_the_minibatch_term():
    """For u·v, one SGD step moves χ by −η²g_B²χ (docs/sgd.md): no gradient term, and the discretisation and
    minibatch terms both oppose χ; GD's drift is the discretisation term alone, smaller in size."""
    import jax
    import numpy as np

    from langevin_ib.experiment import paper_ablations

    experiment = config_lib.load(ROOT / "configs" / "uv_sgd.yaml", ["run.chains=16", "run.chain_groups=4"])
    model = job.build_model(experiment)
    position = jax.vmap(model.init)(jax.random.split(jax.random.key(0), 16))
    chi = np.asarray(jax.vmap(lambda p: 0.5 * (p["u"] ** 2 - p["v"] ** 2))(position)).reshape(16, -1)
    terms = paper_ablations.predicted_terms(experiment, model, position, 0.0)
    assert np.all(np.abs(terms["gradient"]) < 1e-3 * np.abs(terms["minibatch"]))  # zero up to float32 rounding
    assert np.all(terms["discretisation"] * chi < 0) and np.all(terms["minibatch"] * chi < 0)
    summary = paper_ablations.drift_summary(terms)
    assert summary["gd"]["median_abs"] < summary["sgd"]["median_abs"]


def test_side_by_side_draws_the_shared_profiles_with_the_truth():
    """paper_plots.plot_side_by_side (Figs. 5–6's layout): one panel per profile both runs read out, each
    run's median and the truth drawn; nothing when the runs share no profile."""
    import numpy as np

    from langevin_ib.experiment import paper_plots

    q = np.tile(np.linspace(-1, 1, 5), (64, 1))
    runs = {"hadamard": {"readout_signal": q, "readout_signal_truth": np.zeros(64), "readout_fit": q[:50]},
            "plain": {"readout_signal": q + 1, "readout_fit": q[:50]}}
    fig = paper_plots.plot_side_by_side(runs, "fig5")
    assert [ax.get_ylabel() for ax in fig.axes] == ["signal x_i", "fitted y(t)"]
    labels = [line.get_label() for line in fig.axes[0].get_lines()]
    assert labels == ["hadamard (median, 5–95 %)", "plain (median, 5–95 %)", "truth"]
    np.testing.assert_array_equal(fig.axes[0].get_lines()[1].get_ydata(), q[:, 2] + 1)
    assert paper_plots.plot_side_by_side({"a": {"readout_signal": q}, "b": {}}, "none") is None
