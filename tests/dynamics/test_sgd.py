"""The SGD integrator (dynamics.integrators.sgd) against exact results.

- Linear-Gaussian regression, S = diag(1, 4), η = 0.1, B = 2, σ = 1: N = 1000 chains, 300 burn-in
  steps, per-chain time averages of e eᵀ over 1000 steps; |z| < 4 against
  predictions.sgd_linear.stationary_covariance for the three entries (statistic as in
  tests/predictions/test_sgd_linear.py), and |z| > 4 against the naive-temperature Langevin law.
- GD on u·v, float64: after K steps χ_K = χ_0·Π_t(1 − η²g_θ,t²) along the trajectory, to 1e-12.
- A chain's trajectory depends on the seed and its index only (chain count, for a finite set
  with and without replacement, Bernoulli masks and a generator; chunking through the runner); a momentum state
  lives in the state.
- Bernoulli minibatches: mean and trace of the minibatch gradient's covariance against sgd.sampling_factor.
- Bad settings: one ConfigError line naming the field, before anything is compiled (and exit 2 from the CLI).
"""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import yaml

from langevin_ib import cli, models
from langevin_ib.dynamics import integrators
from langevin_ib.dynamics.integrators import gd, sgd, sgld
from langevin_ib.dynamics.grid import simulate_run
from langevin_ib.dynamics.kernel import RunSizes
from langevin_ib.models import linear
from langevin_ib.models.fields import section
from langevin_ib.predictions import sgd_linear


def hyper(step_size, temperature=0.0, weight_decay=0.0, dtype=jnp.float32):
    return integrators.Hyperparameters(*(jnp.asarray(x, dtype) for x in (temperature, step_size, weight_decay)))


def settings(batch_size, **kw):
    return sgd.Settings(batch_size, **kw)


def run(integrator, position, h, steps, seed=0):
    state = integrator.init(jax.random.key(seed), position, h)

    def body(state, key):
        state, _ = integrator.step(key, state, h)
        return state, integrator.position(state)

    return jax.lax.scan(body, state, jax.random.split(jax.random.key(seed), steps))


def test_linear_regression_stationary_covariance():
    scales, eta, batch, sigma, chains = [1.0, 4.0], 0.1, 2, 1.0, 1000
    model = linear.build(section("model", {"scales": scales, "label_noise": sigma, "target": 0.5}, linear.FIELDS))
    integrator, h = integrators.build("sgd", model, settings(batch)), hyper(eta)
    start = {"w": jnp.full((chains, 2), 0.5)}
    burnt, _ = run(integrator, start, h, 300, seed=1)
    _, path = run(integrator, burnt.position, h, 1000, seed=2)
    error = np.asarray(path["w"], np.float64) - 0.5  # (steps, chains, 2)
    samples = np.einsum("tci,tcj->cij", error, error) / error.shape[0]
    s = np.diag(scales)

    def max_z(predicted):
        return max(abs(samples[:, i, j].mean() - predicted[i, j]) / (samples[:, i, j].std() / np.sqrt(chains))
                   for i, j in [(0, 0), (1, 1), (0, 1)])

    assert max_z(sgd_linear.stationary_covariance(s, eta, batch, sigma)) < 4
    assert max_z(sgd_linear.langevin_covariance(s, sgd_linear.naive_temperature(s, eta, batch, sigma))) > 4


def test_uv_gradient_descent_changes_chi_by_the_eta_squared_term():
    with jax.enable_x64(True):
        spec = models.REGISTRY["uv"]
        model = spec.build(section("model", {"copies": 3, "target": 1.2}, spec.FIELDS), jnp.float64)
        eta, steps = 0.05, 60
        start = {"u": jnp.array([[2.0, -0.4, 1.1]]), "v": jnp.array([[0.1, 0.9, -1.3]])}
        _, path = run(gd.build(model), start, hyper(eta, dtype=jnp.float64), steps)
        u = np.concatenate([start["u"][None], path["u"]])[:, 0]
        v = np.concatenate([start["v"][None], path["v"]])[:, 0]
        g_theta = u[:-1] * v[:-1] - 1.2
        predicted = 0.5 * (u[0] ** 2 - v[0] ** 2) * np.prod(1 - eta**2 * g_theta**2, axis=0)
        np.testing.assert_allclose(0.5 * (u[-1] ** 2 - v[-1] ** 2), predicted, rtol=1e-12)
        assert np.max(np.abs(predicted - 0.5 * (u[0] ** 2 - v[0] ** 2))) > 1e-3  # the η² term is not negligible


CHAIN_COUNT_CASES = [("hadamard", {"size": 4, "measurements": 10}, sgld, "auto"),  # finite set, without replacement
                     ("hadamard", {"size": 4, "measurements": 10}, sgld, "with_replacement"),
                     ("hadamard", {"size": 4, "measurements": 10}, sgd, "bernoulli"),
                     ("relu", {"hidden": 4, "fresh_data": True}, sgd, "fresh")]  # one generator call for all chains


@pytest.mark.parametrize("name, fields, module, sampling", CHAIN_COUNT_CASES)
def test_chain_draws_depend_on_seed_and_index_only(name, fields, module, sampling):
    spec = models.REGISTRY[name]
    model = spec.build(section("model", fields, spec.FIELDS))
    integrator, h = module.build(model, settings(3, sampling=sampling)), hyper(0.1, temperature=0.01 * module.SPEC.thermal)
    start = jax.tree.map(lambda x: jnp.stack([x, 1.1 * x, x]), model.init(jax.random.key(0)))
    _, three = run(integrator, start, h, 5)
    _, two = run(integrator, jax.tree.map(lambda x: x[:2], start), h, 5)
    for a, b in zip(jax.tree.leaves(three), jax.tree.leaves(two)):
        np.testing.assert_array_equal(a[:, :2], b)
    assert not np.array_equal(jax.tree.leaves(three)[0][-1, 0], jax.tree.leaves(three)[0][-1, 2])  # own draws


def test_momentum_state_lives_in_the_state():
    spec = models.REGISTRY["hadamard"]
    model = spec.build(section("model", {"size": 4, "measurements": 10}, spec.FIELDS))
    start = jax.tree.map(lambda x: x[None], model.init(jax.random.key(0)))
    h = hyper(0.1)
    plain, heavy = sgd.build(model, settings(3)), sgd.build(model, settings(3, optimizer_args=(("momentum", 0.9),)))
    _, plain_path = run(plain, start, h, 2)
    heavy_state, heavy_path = run(heavy, start, h, 2)
    np.testing.assert_allclose(heavy_path["u"][0], plain_path["u"][0], rtol=1e-6)  # first step: trace = g
    assert not np.allclose(heavy_path["u"][1], plain_path["u"][1], rtol=1e-4)
    assert jax.tree.leaves(heavy_state.optimizer)[0].shape[0] == 1


@pytest.mark.slow
def test_chunking_does_not_change_the_numbers():
    spec = models.REGISTRY["relu"]
    model = spec.build(section("model", {"hidden": 4, "samples": 16}, spec.FIELDS))
    integrator = sgd.build(model, settings(4, sampling="with_replacement"))

    def final(chunk_steps):
        sizes = RunSizes(chains=6, steps=12, chunk_steps=chunk_steps, chain_groups=2, seed=3)
        result = simulate_run(model, integrator, hyper(0.05), sizes, binnings={}, progress=False)
        return integrator.position(result.final_state.integrator)

    chex.assert_trees_all_equal(final(12), final(5))


def test_per_chain_step_size():
    model = linear.build(section("model", {}, linear.FIELDS))
    integrator = sgd.build(model, settings(2))
    start = {"w": jnp.zeros((2, 2))}
    state = integrator.init(jax.random.key(0), start, hyper(0.1))
    moved, _ = integrator.step(jax.random.key(1), state, hyper(jnp.array([0.0, 0.1])))
    np.testing.assert_array_equal(moved.position["w"][0], 0.0)
    assert np.all(moved.position["w"][1] != 0.0)


def config(model, observables, **dynamics):
    return {"model": model, "observables": observables, "run": {"chains": 64, "steps": 10, "chain_groups": 8},
            "dynamics": {"integrator": "sgd", "temperature": 0.0, "step_size": 0.1, **dynamics}}


UV = ({"name": "uv", "label_noise": 1.0}, {"theta": {"min": 0, "max": 2, "bins": 4}})
BAD = [  # (config, the field the error names)
    (config({"name": "harmonic"}, {"x": {"min": -1, "max": 1, "bins": 4}}), "dynamics.integrator"),
    (config(*UV, batch_size=0), "dynamics.batch_size"),
    (config(*UV, optimizer="adamw2"), "dynamics.optimizer"),
    (config(*UV, optimizer="adam", optimizer_args={"betas": 0.9}), "dynamics.optimizer_args"),
    (config(*UV, optimizer="adam", momentum=0.9), "dynamics.optimizer_args"),
    (config(*UV, sampling="with_replacement"), "dynamics.sampling"),
    (config(*UV, sampling="bernoulli"), "dynamics.sampling"),  # fresh data: no finite set to mask
    (config(*UV, sampling="Bernoulli"), "dynamics.sampling"),
    (config(*UV, temperature=0.1), "dynamics.temperature"),
    (config({"name": "hadamard", "measurements": 5}, {"z": {"min": -1, "max": 1, "bins": 4}}, batch_size=8),
     "dynamics.batch_size"),
    (config({"name": "hadamard", "measurements": 5}, {"z": {"min": -1, "max": 1, "bins": 4}}, batch_size=8,
            sampling="bernoulli"), "dynamics.batch_size"),  # an expected size above n
]


@pytest.mark.slow
def test_bernoulli_minibatch_gradient_moments():
    """sampling: bernoulli (the paper's Fig. 4: each example in with probability B/n): over 20 000 draws of
    the mask (sgd.sampler) and the masked mean gradient (Data.masked_loss_and_gradient) on a 10-example
    Hadamard problem, the mean gradient is ∇L and tr Cov(g_B) is (c/B)·tr Σ with c = sgd.sampling_factor.
    Statistic: z of the sample mean (per coordinate, |z| < 4.5 over 8 coordinates) and of the trace
    (its standard error from the batch means of 40 blocks); the same trace is rejected (|z| > 4.5) for
    without-replacement's c, so the Binomial batch size matters at this n."""
    spec = models.REGISTRY["hadamard"]
    batch, draws = 3, 20_000
    with jax.enable_x64(True):
        model = spec.build(section("model", {"size": 4, "measurements": 10}, spec.FIELDS), jnp.float64)
        params = jax.tree.map(lambda x: x + 0.5, model.init(jax.random.key(1)))
        n = model.data.size
        masks = sgd.sampler(model, settings(batch, sampling="bernoulli"))(jax.random.key(0), draws)
        assert abs(float(masks.sum(axis=1).mean()) - batch) < 0.05
        flat = lambda g: jax.flatten_util.ravel_pytree(g)[0]
        grads = jax.vmap(lambda m: flat(model.data.masked_loss_and_gradient(params, model.data.examples, m)[1]))(masks)
        per_example = jax.vmap(lambda z: flat(jax.grad(model.data.example_loss)(params, z)))(model.data.examples)
    grads, per_example = np.asarray(grads), np.asarray(per_example)
    nonempty = masks.sum(axis=1) > 0
    grads = grads[np.asarray(nonempty)]
    mean, sigma = per_example.mean(axis=0), np.cov(per_example.T, bias=True)
    z_mean = (grads.mean(axis=0) - mean) / (grads.std(axis=0) / np.sqrt(len(grads)))
    assert np.all(np.abs(z_mean) < 4.5), z_mean
    squared = np.sum((grads - mean) ** 2, axis=1)
    blocks = squared[: len(squared) // 40 * 40].reshape(40, -1).mean(axis=1)
    error = blocks.std(ddof=1) / np.sqrt(40)
    z = lambda c: (squared.mean() - c / batch * np.trace(sigma)) / error
    assert abs(z(sgd.sampling_factor("bernoulli", batch, n))) < 4.5
    assert abs(z(sgd.sampling_factor("without_replacement", batch, n))) > 4.5


@pytest.mark.parametrize("raw, field", BAD)
def test_bad_input_is_one_line_naming_the_field(raw, field, capsys, tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(raw))
    code = cli.main(["run", str(path), "--out", str(tmp_path / "out"), "--quiet"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "\n" not in err and f"error: {field}" in err, err
    assert not (tmp_path / "out" / "summary.json").exists()
