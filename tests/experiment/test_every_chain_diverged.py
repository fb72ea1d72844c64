"""Issue 31 case 16: an SGD run whose every chain diverges (η = 10⁶, gone by step 9) reports no verdict:
before, the χ-drift test read the boundary positions from before the divergence and concluded "the
chains follow the sgd prediction", with NumPy's empty-slice warnings from the median of no chain."""

import json
import warnings

import pytest

from langevin_ib import cli
from langevin_ib.experiment import verdicts


@pytest.mark.slow  # 22 s on 2 cores: the SGD program's compile
def test_an_sgd_run_whose_every_chain_diverged_has_every_verdict_untestable(capsys, tmp_path):
    out = tmp_path / "out"
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # "Mean of empty slice" and its invalid division
        code = cli.main(["run", "configs/uv_sgd.yaml", "run.chains=64", "run.burn_in=0", "run.steps=20",
                         "run.chunk_steps=10", "run.chain_groups=8", "dynamics.step_size=1e6", "--quiet",
                         "--out", str(out)])
    printed = capsys.readouterr().out
    assert code == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["divergence"]["fraction"] == 1
    outcomes = [o for hypotheses in verdicts.outcomes(summary).values() for o in hypotheses.values()]
    assert outcomes and set(outcomes) == {"untestable"}, verdicts.outcomes(summary)
    assert "chi_drift" not in summary and "effective_temperature" not in summary
    assert summary["conclusion"].endswith("caveat: 100% of the chains diverged, so no hypothesis could be tested.")
    assert f"conclusion: {summary['conclusion']}" in printed and "follow" not in summary["conclusion"]
