"""The host loop and the chunk kernel: a step that reports ``Info.failed`` is a divergence.

A counting integrator (its state is not just a position: a step counter rides along) moves every
chain by +1 per step and reports chain 0 failed at step 7. With thin = 5 the checks fall after
steps 4, 9, 14, 19; the failure is caught at the check closing block [5, 10), so chain 0 diverges at
step 9, rolls back to its state at the previous check (x = 5, counter 5), is frozen there, and is
observed once (at step 4). The numbers are exact, so the test compares exactly.
"""

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from langevin_ib.base import Binning
from langevin_ib.dynamics.integrators import Hyperparameters, Info, Integrator
from langevin_ib.dynamics.grid import simulate_run
from langevin_ib.dynamics.kernel import RunSizes
from langevin_ib.models import harmonic

CHAINS = 4


class CountingState(NamedTuple):
    position: dict
    count: jax.Array  # (chains,) int32


def counting_integrator(fail_at: int) -> Integrator:
    def init(key, position, hyperparameters):
        del key, hyperparameters
        return CountingState(position, jnp.zeros(CHAINS, jnp.int32))

    def step(key, state, hyperparameters):
        del key, hyperparameters
        failed = (state.count == fail_at) & (jnp.arange(CHAINS) == 0)
        return CountingState(jax.tree.map(lambda x: x + 1, state.position), state.count + 1), Info(failed)

    return Integrator(init, step, lambda state: state.position, weak_order=1, constrained=False)


def test_a_failed_step_is_counted_as_diverged_and_rolled_back():
    model = harmonic.build({"stiffness": 1.0, "copies": 1, "init": 0.0})
    sizes = RunSizes(chains=CHAINS, steps=20, thin=5, chunk_steps=10, chain_groups=CHAINS)
    result = simulate_run(model, counting_integrator(fail_at=7), Hyperparameters(1.0, 0.1, 0.0), sizes,
                      binnings={"x": Binning(0, 40, 40)}, progress=False)
    assert result.diverged == 1
    np.testing.assert_array_equal(result.diverged_at, [9])
    final = result.final_state.integrator
    np.testing.assert_array_equal(final.position["x"][:, 0], [5, 20, 20, 20])
    np.testing.assert_array_equal(final.count, [5, 20, 20, 20])
    np.testing.assert_array_equal(result.histograms.moments["x"][:, 0], [1, 4, 4, 4])  # observations per chain
    # trends: x = 5, 10, 15, 20 at k = 0 … 3, Σ(k − 1.5)x = 25 and Σ(k − 1.5)x² = 625; the diverged chain NaN
    np.testing.assert_array_equal(result.histograms.trends["x"], [[np.nan] * 2] + [[25.0, 625.0]] * 3)


def test_no_failure_no_divergence():
    model = harmonic.build({"stiffness": 1.0, "copies": 1, "init": 0.0})
    sizes = RunSizes(chains=CHAINS, steps=20, thin=5, chunk_steps=10, chain_groups=CHAINS)
    result = simulate_run(model, counting_integrator(fail_at=-1), Hyperparameters(1.0, 0.1, 0.0), sizes,
                      binnings={"x": Binning(0, 40, 40)}, progress=False)
    assert result.diverged == 0
    np.testing.assert_array_equal(result.final_state.integrator.position["x"][:, 0], [20] * CHAINS)


def test_with_position_rolls_back_only_the_position():
    """An integrator that gives ``with_position`` (as Leimkuhler–Matthews does for its anchor):
    the diverged chain's position rolls back to x = 5 as above, its counter is left as proposed
    (it keeps counting while the chain is frozen), and every count, moment and divergence record
    is the same as with the full rollback."""
    model = harmonic.build({"stiffness": 1.0, "copies": 1, "init": 0.0})
    sizes = RunSizes(chains=CHAINS, steps=20, thin=5, chunk_steps=10, chain_groups=CHAINS)
    run = lambda integrator: simulate_run(model, integrator, Hyperparameters(1.0, 0.1, 0.0), sizes,
                                      binnings={"x": Binning(0, 40, 40)}, progress=False)
    full = counting_integrator(fail_at=7)
    partial = run(full._replace(with_position=lambda state, position: state._replace(position=position)))
    reference = run(full)
    np.testing.assert_array_equal(partial.final_state.integrator.position["x"][:, 0], [5, 20, 20, 20])
    np.testing.assert_array_equal(partial.final_state.integrator.count, [20, 20, 20, 20])
    np.testing.assert_array_equal(partial.diverged_at, reference.diverged_at)
    np.testing.assert_array_equal(partial.histograms.counts["x"], reference.histograms.counts["x"])
    np.testing.assert_array_equal(partial.histograms.moments["x"], reference.histograms.moments["x"])


def test_calls_split_for_signal_latency_change_no_number_and_resume_mid_chunk(tmp_path):
    """max_call_seconds=0 splits every call into calls of one block (thin steps), in burn-in and
    measurement alike; a checkpoint asked to stop between two calls of a chunk (step 40 of the chunk
    [30, 50), after 8 blocks: 6 of burn-in, 2 of the window) saves there, and the run resumed from it gives bitwise the numbers of the
    unsplit, uninterrupted run (Euler–Maruyama on a harmonic well: real noise, float32)."""
    from langevin_ib.dynamics import checkpoint, integrators
    from langevin_ib.dynamics.grid import simulate_grid

    model = harmonic.build({"stiffness": 1.0, "copies": 2, "init": 0.5})
    sizes = RunSizes(chains=CHAINS, steps=40, burn_in=30, thin=5, chunk_steps=20, chain_groups=2)
    one = Hyperparameters(np.asarray([0.5]), np.asarray([0.05]), np.asarray([0.0]))

    def run(limit, saved=None):
        return simulate_grid(model, integrators.build("euler_maruyama", model), one, sizes,
                             binnings={"x": Binning(-3, 3, 12)}, checkpoint=saved, max_call_seconds=limit)[0][0]

    class StopAt40(checkpoint.Checkpointer):
        def between(self, step, carry, records=(), where=""):
            if step == 8:
                self.stop = "SIGTERM"
            super().between(step, carry, records, where)

    reference, split = run(float("inf")), run(0.0)
    with pytest.raises(checkpoint.Interrupted, match="step 40"):
        run(0.0, StopAt40(tmp_path, {}, every_seconds=0))
    resumed = run(float("inf"), checkpoint.Checkpointer(tmp_path, {}, every_seconds=0))
    for result in (split, resumed):
        np.testing.assert_array_equal(result.histograms.counts["x"], reference.histograms.counts["x"])
        np.testing.assert_array_equal(result.histograms.moments["x"], reference.histograms.moments["x"])
        np.testing.assert_array_equal(result.histograms.trends["x"], reference.histograms.trends["x"])
        np.testing.assert_array_equal(result.final_state.integrator.position["x"],
                                      reference.final_state.integrator.position["x"])
    assert reference.histograms.counts["x"].sum() == CHAINS * 2 * 8  # 8 observations of 2 copies per chain


@pytest.mark.parametrize("per_point", [False, pytest.param(True, marks=pytest.mark.slow)])  # True: 14 s
def test_a_signal_during_a_long_first_chunk_stops_after_the_probe_call(tmp_path, per_point):
    """One chunk of 400 steps (chunk_steps = steps, thin = 1): the chunk's first call is a probe of one
    block, so a SIGTERM that arrives during it is answered at the next call boundary (after block 1),
    not at the chunk's end; the run resumed from that checkpoint is bitwise the uninterrupted run. With
    ``per_point``, two points of the grid have their own budgets (burn-in 0 and 6 steps, thin 1 and 3,
    400 and 100 observations: durations in time at η = 0.05 and 0.15), resumed bitwise too, and the
    second point, frozen through the first's last 300 blocks, equals its run alone (other chunks)."""
    import os
    import signal

    from langevin_ib.dynamics import checkpoint, integrators
    from langevin_ib.dynamics.grid import PROBE_BLOCKS, simulate_grid
    from langevin_ib.dynamics.kernel import Budget

    model = harmonic.build({"stiffness": 1.0, "copies": 2, "init": 0.5})
    sizes = RunSizes(chains=CHAINS, steps=400, thin=1, chunk_steps=400, chain_groups=2)
    points = 2 if per_point else 1
    hp = Hyperparameters(np.full(points, 0.5), np.asarray([0.05, 0.15][:points]), np.zeros(points))
    budget = Budget(np.asarray([0, 6]), np.asarray([1, 3]), np.asarray([400, 100])) if per_point else None
    saved_at = []

    class SignalDuringTheProbe(checkpoint.Checkpointer):
        def between(self, step, carry, records=(), where=""):
            if not saved_at:
                saved_at.append(step)
                os.kill(os.getpid(), signal.SIGTERM)  # the handler of signals() sets self.stop
            super().between(step, carry, records, where)

    def run(saved=None):
        return simulate_grid(model, integrators.build("euler_maruyama", model), hp, sizes, per_point=budget,
                             binnings={"x": Binning(-3, 3, 12)}, checkpoint=saved)[0]

    interrupted = SignalDuringTheProbe(tmp_path, {}, every_seconds=0)
    with interrupted.signals(), pytest.raises(checkpoint.Interrupted, match="step"):
        run(interrupted)
    assert saved_at == [PROBE_BLOCKS]
    resumed, reference = run(checkpoint.Checkpointer(tmp_path, {}, every_seconds=0)), run()
    for a, b in zip(resumed, reference):
        np.testing.assert_array_equal(a.histograms.counts["x"], b.histograms.counts["x"])
        np.testing.assert_array_equal(a.histograms.moments["x"], b.histograms.moments["x"])
        np.testing.assert_array_equal(a.final_state.integrator.position["x"], b.final_state.integrator.position["x"])
        np.testing.assert_array_equal(a.chi_trace["step"], b.chi_trace["step"])
    if per_point:
        assert [r.histograms.counts["x"].sum() for r in reference] == [CHAINS * 2 * 400, CHAINS * 2 * 100]
        assert [r.chain_steps for r in reference] == [CHAINS * 400, CHAINS * 306]
        alone = simulate_grid(model, integrators.build("euler_maruyama", model),
                              Hyperparameters(*(np.asarray([h[1]]) for h in hp)), sizes,
                              per_point=Budget(*(np.asarray([b[1]]) for b in budget)), binnings={"x": Binning(-3, 3, 12)})[0][0]
        np.testing.assert_array_equal(alone.histograms.moments["x"], reference[1].histograms.moments["x"])
        np.testing.assert_array_equal(alone.final_state.integrator.position["x"],
                                      reference[1].final_state.integrator.position["x"])
