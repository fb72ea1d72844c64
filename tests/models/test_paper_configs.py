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
