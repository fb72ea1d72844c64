"""The README's example conclusion is the line verdicts.conclusion prints for the default run's tests."""

from pathlib import Path

from langevin_ib.experiment import verdicts

README = Path(__file__).resolve().parents[2] / "README.md"


def result(consistent: bool) -> dict:
    return {"statistic": 1.0, "p_value": 0.5 if consistent else 1e-9,
            "verdict": "consistent" if consistent else "rejected"}


def test_the_readme_conclusion_is_what_the_default_run_prints():
    """The default run (configs/uv.yaml's plan: level_set, stein, conditional) with the verdicts it
    reaches (docs/results.md, "What the default run shows"): geometric consistent everywhere, the
    rest rejected."""
    printed = [line.strip() for line in README.read_text().splitlines() if line.strip().startswith("conclusion: ")]
    summary = {"fits": {"level_set": {"hypotheses": {h: result(h == "geometric")
                                                     for h in ("naive", "paper_eq7", "geometric")}}},
               **{test: {"hypotheses": {h: result(h == "geometric") for h in ("geometric", "naive", "projected")}}
                  for test in ("stein", "conditional")}}
    assert printed == [f"conclusion: {verdicts.conclusion(summary)}"]
