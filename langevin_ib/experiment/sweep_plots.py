"""Sweep figures: z of each hypothesis of each test against T, η and the batch size, a verdict map over
(T, η), the measured exponent of the implicit-bias term on u·v's level sets
(:mod:`langevin_ib.statistics.exponent_fit`), and the invariant-measure bias of a moment against η.
Points whose chains were not stationary (:mod:`langevin_ib.statistics.stationarity`) are drawn hollow
and greyed in the verdict map: their verdicts are untestable. Each plot function returns a matplotlib
Figure; the writer saves it.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.colors
import matplotlib.patches
import matplotlib.ticker
import numpy as np
from matplotlib.figure import Figure

from langevin_ib.experiment.plots import subplots
from langevin_ib.experiment.sweep_grid import BATCH_KEY
from langevin_ib.experiment.sweep_table import largest_z
from langevin_ib.experiment.verdicts import results as hypothesis_tests
from langevin_ib.statistics.exponent_fit import exponent_fit

T_KEY, ETA_KEY = "dynamics.temperature", "dynamics.step_size"
LABELS = {T_KEY: ("temperature T", "T"), ETA_KEY: ("step size η", "η"), BATCH_KEY: ("batch size B", "B"),
          "dynamics.weight_decay": ("weight decay λ", "λ"), "run.seed": ("seed", "seed")}  # axis label, symbol
VERDICT_CODE = {"consistent": 0, "rejected": 1, "not stationary": 2}
VERDICT_COLOURS = ["tab:green", "tab:red", "0.6"]


def _axis(content: dict, key: str) -> list:
    return content["axes"].get(key, [])


def _point_config(content: dict, record: dict) -> dict:
    """The config of one sweep point: the base config with the point's swept values."""
    config = {section: dict(v) if isinstance(v, dict) else v for section, v in content["config"].items()}
    for key, value in record["values"].items():
        section, name = key.split(".", 1)
        config[section][name] = value
    return config


def _base(content: dict, key: str):
    """The base config's value of ``key`` (section.name)."""
    section, name = key.split(".", 1)
    return content["config"].get(section, {}).get(name)


def _values(record: dict, key: str, content: dict):
    return record["values"].get(key, _base(content, key))


def _tests(content: dict) -> dict[str, list[str]]:
    """test -> hypotheses scored at any point of the sweep (sweep.csv's tests), in first-seen order."""
    out: dict[str, dict] = {}
    for record in content["points"]:
        for test, hypotheses in hypothesis_tests(record["summary"]).items():
            out.setdefault(test, {}).update(dict.fromkeys(hypotheses))
    return {test: list(hypotheses) for test, hypotheses in out.items()}


def _result(record: dict, test: str, hypothesis: str) -> dict | None:
    return hypothesis_tests(record["summary"]).get(test, {}).get(hypothesis)


def _stationary(record: dict) -> bool:
    """False where the point's stationarity check found a drift (True where it passed or was untestable)."""
    return (record["summary"].get("stationarity") or {}).get("stationary") is not False


def _points(ax, x, y, stationary, **style) -> None:
    """Markers at (x, y): filled where the chains were stationary, hollow where they were not."""
    x, y, stationary = np.asarray(x), np.asarray(y), np.asarray(stationary, bool)
    colour = style.pop("color")
    for keep, face in ((stationary, colour), (~stationary, "none")):
        ax.plot(x[keep], y[keep], ls="none", color=colour, markerfacecolor=face, **style)


def _grid(count: int, width: float, height: float, columns: int = 3):
    rows = -(-count // columns)
    fig, axes = subplots(rows, min(count, columns), figsize=(width * min(count, columns), height * rows),
                         dpi=110, squeeze=False)
    for ax in axes.flat[count:]:
        ax.set_visible(False)
    return fig, axes.flat


def plot_z(content: dict, against: str = T_KEY, by: str = ETA_KEY) -> Figure:
    """z of every hypothesis of every test (sweep.csv's z: the largest |z| of a test with one per
    component) against ``against``, one line per value of ``by``, one panel per test."""
    tests = _tests(content)
    fig, axes = _grid(len(tests), 5.5, 4.2)
    levels = _axis(content, by) or [_base(content, by)]
    for ax, (test, hypotheses) in zip(axes, tests.items()):
        vector = False
        for h_index, hypothesis in enumerate(hypotheses):
            for b_index, level in enumerate(levels):
                found = sorted(((_values(r, against, content), result["z"], _stationary(r)) for r in content["points"]
                                if _values(r, by, content) == level
                                and (result := _result(r, test, hypothesis)) is not None), key=lambda xz: xz[0])
                if not found:
                    continue
                vector |= any(isinstance(z, (list, dict)) for _, z, _ in found)
                x, z, stationary = zip(*((x, largest_z(z), s) for x, z, s in found))
                style = dict(color=f"C{h_index}", alpha=1 - 0.6 * b_index / max(1, len(levels)))
                ax.plot(x, z, **style,
                        label=f"{hypothesis}, {LABELS[by][1]} = {level:g}" if level is not None else hypothesis)
                _points(ax, x, z, stationary, marker="o", **style)
        ax.axhline(0, color="0.6", lw=0.8)
        ax.set_xscale("log")
        ticks = _axis(content, against)
        if len(ticks) <= 8:  # the swept values themselves
            ax.set_xticks(ticks, [f"{t:.3g}" for t in ticks])
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        ax.set_xlabel(LABELS[against][0])
        ax.set_ylabel("z of the test (0 = consistent)")
        ax.set_title(f"{test} (z of the component of largest |z|)" if vector else test, fontsize=10)
        ax.plot([], [], ls="none", marker="o", color="0.4", markerfacecolor="none", label="hollow: not stationary")
        ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    return fig


def plot_verdicts(content: dict) -> Figure:
    """One panel per test × hypothesis: consistent / rejected / not stationary (grey) over the (T, η) grid."""
    temperatures, steps = _axis(content, T_KEY), _axis(content, ETA_KEY)
    pairs = [(t, h) for t, hypotheses in _tests(content).items() for h in hypotheses]
    fig, axes = _grid(len(pairs), 3.2, 3.4, columns=5)
    cmap = matplotlib.colors.ListedColormap(VERDICT_COLOURS)
    for ax, (test, hypothesis) in zip(axes, pairs):
        grid = np.full((len(steps), len(temperatures)), np.nan)
        for r in content["points"]:
            result = _result(r, test, hypothesis)
            if result is not None:
                verdict = result.get("verdict") if _stationary(r) else "not stationary"
                grid[steps.index(r["values"][ETA_KEY]), temperatures.index(r["values"][T_KEY])] = \
                    VERDICT_CODE.get(verdict, np.nan)
        ax.imshow(grid, origin="lower", cmap=cmap, vmin=0, vmax=len(VERDICT_COLOURS) - 1, aspect="auto")
        ax.set_xticks(range(len(temperatures)), [f"{t:.3g}" for t in temperatures], rotation=60, fontsize=7)
        ax.set_yticks(range(len(steps)), [f"{s:.2g}" for s in steps], fontsize=7)
        ax.set_xlabel("temperature T")
        ax.set_ylabel("step size η")
        ax.set_title(f"{test}: {hypothesis}", fontsize=9)
    handles = [matplotlib.patches.Patch(color=c, label=v) for v, c in zip(VERDICT_CODE, VERDICT_COLOURS)]
    handles.append(matplotlib.patches.Patch(color="white", label="untestable / not run"))
    fig.legend(handles=handles, loc="upper right", fontsize=8)
    fig.tight_layout(rect=(0, 0, 0.9, 1))
    return fig


def exponents(content: dict, arrays) -> list[dict]:
    """The fitted exponent of every point of a u·v sweep with a joint (θ, χ) histogram."""
    config = content["config"]
    out = []
    for i, record in enumerate(content["points"]):
        dyn = {**config["dynamics"], **{k.split(".")[1]: v for k, v in record["values"].items() if k.startswith("dynamics.")}}
        a, se = exponent_fit(arrays["theta_edges"][i], arrays["chi_edges"][i], arrays["joint_counts"][i],
                             temperature=dyn["temperature"], target=config["model"]["target"],
                             weight_decay=dyn["weight_decay"])
        out.append({"index": i, "temperature": dyn["temperature"], "step_size": dyn["step_size"], "a": a, "se": se,
                    "stationary": _stationary(record)})
    return out


def plot_exponent(fitted: list[dict], predicted: float = 1.0) -> Figure:
    """The measured exponent against T (one line per η) and against η (one line per T), with ±1 se;
    hollow where the chains were not stationary."""
    fig, axes = subplots(1, 2, figsize=(11, 4.2), dpi=110)
    for ax, (x_key, by_key, label) in zip(axes, [("temperature", "step_size", "temperature T"),
                                                 ("step_size", "temperature", "step size η")]):
        for j, level in enumerate(sorted({f[by_key] for f in fitted})):
            rows = sorted((f[x_key], f["a"], f["se"], f.get("stationary", True)) for f in fitted if f[by_key] == level)
            x, a, se, stationary = map(np.asarray, zip(*rows))
            ax.errorbar(x * (1 + 0.02 * j), a, yerr=se, capsize=2, color=f"C{j}",
                        label=f"{'η' if by_key == 'step_size' else 'T'} = {level:.3g}")
            _points(ax, x * (1 + 0.02 * j), a, stationary, marker="o", ms=4, color=f"C{j}")
        ax.axhline(predicted, color="k", ls="--", lw=1, label=f"predicted a = {predicted:g} (geometric)")
        ax.axhline(0, color="0.5", ls=":", lw=1, label="a = 0 (naive)")
        ax.plot([], [], ls="none", marker="o", color="0.4", markerfacecolor="none", label="hollow: not stationary")
        ax.set_xscale("log")
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        ax.set_xlabel(label)
        ax.set_ylabel("exponent a in (θ² + χ²)^(−a/2)")
        ax.legend(fontsize=7, loc="best")
    fig.suptitle("implicit-bias exponent on the level sets of χ (ML fit, ±1 s.e.: jackknife over chain groups)")
    fig.tight_layout()
    return fig


def bias_slopes(curves: dict, reference: float) -> dict:
    """label -> the log–log slope of |moment − reference| against η (NaN with fewer than two non-zero biases).

    ``curves``: label -> (step sizes, measured moments, their standard errors)."""
    slopes = {}
    for label, (eta, value, _) in curves.items():
        eta, bias = np.asarray(eta), np.abs(np.asarray(value) - reference)
        ok = bias > 0
        slopes[label] = float(np.polyfit(np.log(eta[ok]), np.log(bias[ok]), 1)[0]) if ok.sum() >= 2 else float("nan")
    return slopes


def plot_bias(curves: dict, reference: float, moment: str = "var θ") -> Figure:
    """|moment − reference| against η on log–log axes for each integrator, labelled with :func:`bias_slopes`."""
    fig, ax = subplots(figsize=(6, 4.5), dpi=110)
    slopes = bias_slopes(curves, reference)
    for j, (label, (eta, value, se)) in enumerate(curves.items()):
        eta, bias, se = np.asarray(eta), np.abs(np.asarray(value) - reference), np.asarray(se)
        ax.errorbar(eta, bias, yerr=se, marker="o", capsize=2, color=f"C{j}", label=f"{label}: slope {slopes[label]:.2f}")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("step size η")
    ax.set_ylabel(f"|{moment} − exact| (units of {moment})")
    ax.set_title("invariant-measure bias against step size")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def harmonic_variance(moments, experiment: dict) -> tuple[float, float]:
    """(variance / exact T/(k + λ), its standard error from the spread over chain groups) of a
    harmonic run's ``x`` moments (groups, 3): n, Σx, Σx² per group."""
    n, s1, s2 = np.asarray(moments, float).T
    per_group = s2 / n - (s1 / n) ** 2
    exact = experiment["dynamics"]["temperature"] / (experiment["model"]["stiffness"] + experiment["dynamics"]["weight_decay"])
    total = s2.sum() / n.sum() - (s1.sum() / n.sum()) ** 2
    return total / exact, per_group.std(ddof=1) / np.sqrt(len(n)) / exact


def bias_curves(runs) -> dict:
    """label (integrator) -> (step sizes, variance / exact, s.e.), from (config dict, x moments) pairs of harmonic runs."""
    curves: dict = {}
    for experiment, moments in runs:
        value, se = harmonic_variance(moments, experiment)
        curves.setdefault(experiment["dynamics"]["integrator"], []).append((experiment["dynamics"]["step_size"], value, se))
    return {label: tuple(np.asarray(c) for c in zip(*sorted(points))) for label, points in curves.items()}


def plot_batch_bias(points: list[dict], out: Path) -> tuple[Figure | None, dict]:
    """The variance bias against η of a batch's harmonic points, one curve per integrator, and its slopes
    (None and {} if no integrator has two step sizes)."""
    import yaml

    runs = []
    for record in points:
        if record["summary"]["model"] == "harmonic":
            config = yaml.safe_load((out / record["name"] / "config.yaml").read_text())
            with np.load(out / record["name"] / "histograms.npz") as arrays:
                runs.append((config, arrays["x_moments"]))
    curves = {k: c for k, c in bias_curves(runs).items() if len(set(c[0])) >= 2}
    if not curves:
        return None, {}
    return plot_bias(curves, 1.0, "var x / (T/k)"), bias_slopes(curves, 1.0)


def outputs(content: dict, arrays: dict) -> tuple[dict[str, Figure], dict[str, object]]:
    """(name -> Figure, name -> JSON data) a sweep supports, from sweep.json's ``content`` and its stacked
    histograms.npz ``arrays``: z against each swept axis, the verdict map, and the bias slopes (harmonic)
    or exponents (u·v) with their figures."""
    figures: dict[str, Figure] = {}
    data: dict[str, object] = {}
    if not _tests(content):
        return figures, data
    if _axis(content, T_KEY):
        figures["z_vs_temperature"] = plot_z(content, T_KEY, ETA_KEY)
    if _axis(content, ETA_KEY):
        figures["z_vs_step_size"] = plot_z(content, ETA_KEY, T_KEY if _axis(content, T_KEY) else BATCH_KEY)
    if _axis(content, BATCH_KEY):
        figures["z_vs_batch_size"] = plot_z(content, BATCH_KEY, ETA_KEY)
    if _axis(content, T_KEY) and _axis(content, ETA_KEY):
        figures["verdicts"] = plot_verdicts(content)
    if content["config"]["model"]["name"] == "harmonic" and len(_axis(content, ETA_KEY)) >= 2:
        runs = [(_point_config(content, r), arrays["x_moments"][r["index"]]) for r in content["points"]]
        curves = bias_curves(runs)
        figures["bias"] = plot_bias(curves, 1.0, "var x / (T/k)")
        data["bias"] = bias_slopes(curves, 1.0)
    langevin = all(_values(r, T_KEY, content) > 0 for r in content["points"])  # the family needs T > 0
    if content["config"]["model"]["name"] == "uv" and "joint_counts" in arrays and langevin:
        data["exponents"] = exponents(content, arrays)
        figures["exponent"] = plot_exponent(data["exponents"])
    return figures, data
