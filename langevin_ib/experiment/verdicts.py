"""The verdicts of a run's summary read as one plain-words conclusion.

Each hypothesis of each test (the histogram fits, the Stein identities, the full-conditional PITs) is
``consistent`` (p ≥ analysis.significance), ``rejected``, or ``untestable`` where its statistic or
p-value is NaN (nothing to pool, no chain left): a NaN statistic is never counted either way. Where
the run's stationarity check finds a drift (:mod:`langevin_ib.statistics.stationarity`), every
hypothesis is ``untestable`` with the reason "not stationary": its samples describe a transient.
"""

from __future__ import annotations

import copy
import math

OUTCOMES = ("consistent", "rejected", "untestable")
NOT_STATIONARY = "not stationary (summary.json: stationarity)"


def outcome(result: dict) -> str:
    """One hypothesis' outcome in one test: a Pearson fit (``verdict``) or a Hotelling test (``consistent``)."""
    statistic = result["statistic"] if "statistic" in result else result["t_squared"]
    if result.get("verdict") == "untestable" or not (math.isfinite(statistic) and math.isfinite(result["p_value"])):
        return "untestable"
    if "verdict" in result:
        return result["verdict"]
    return "consistent" if result["consistent"] else "rejected"


def reason(result: dict) -> str:
    """Why a hypothesis is untestable: the test's own reason, else its NaN statistic."""
    return result.get("reason") or "NaN statistic: nothing to pool, or no chain left"


def results(summary: dict) -> dict[str, dict[str, dict]]:
    """test -> hypothesis -> result of every test a summary scored: the fits, then each summary entry
    with hypotheses (Stein, the PIT tests, the χ-drift test, the SGD stationary law, ...)."""
    tests = {name: fit["hypotheses"] for name, fit in summary["fits"].items()}
    tests.update({name: value["hypotheses"] for name, value in summary.items()
                  if name not in tests and isinstance(value, dict) and isinstance(value.get("hypotheses"), dict)
                  and value["hypotheses"]})
    return tests


def not_stationary(stationarity: dict) -> str:
    """The reason a non-stationary run's verdicts are untestable, with the suggested burn-in time."""
    drifts = ", ".join(f"{name} (z = {stationarity['histograms'][name]['z']:.1f})" for name in stationarity["drifting"])
    return (f"not stationary: {drifts} drift across the recorded window; burn-in time "
            f"{stationarity['burn_in_time']:.3g}, suggested ≥ {stationarity['suggested_burn_in_time']:.3g} (steps·η)")


def with_stationarity(summary: dict) -> dict:
    """``summary`` with every hypothesis ``untestable`` ("not stationary") where its stationarity
    check found a drift; unchanged otherwise."""
    if (summary.get("stationarity") or {}).get("stationary") is not False:
        return summary
    marked = copy.deepcopy(summary)
    for hypotheses in results(marked).values():
        for result in hypotheses.values():
            result.update(verdict="untestable", reason=NOT_STATIONARY)
    return marked


def outcomes(summary: dict) -> dict[str, dict[str, str]]:
    """test -> hypothesis -> outcome, over every test the summary holds a verdict for."""
    return {test: {h: outcome(r) for h, r in hypotheses.items()} for test, hypotheses in results(summary).items()}


def _names(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _tests(n: int) -> str:
    return f"{n} test" if n == 1 else f"{n} tests"


def conclusion(summary: dict) -> str:
    """e.g. ``the chains follow the geometric prediction (consistent in 3 of 3 tests); naive and
    paper_eq7 are rejected.``"""
    table = outcomes(summary)
    check = summary.get("stationarity") or {}
    if check.get("stationary") is False:
        return (f"the chains are {not_stationary(check)}; every verdict is untestable: lengthen the burn-in "
                "(run.burn_in) and rerun" + _caveat(summary) + ".")
    if not table:
        return "no prediction is tested in this run (histograms only)."
    tally: dict[str, dict[str, list[str]]] = {}
    for test, hypotheses in table.items():
        for hypothesis, result in hypotheses.items():
            tally.setdefault(hypothesis, {o: [] for o in OUTCOMES})[result].append(test)
    everywhere = [h for h, t in tally.items() if t["consistent"] and not t["rejected"]]
    rejected = [h for h, t in tally.items() if t["rejected"] and not t["consistent"]]
    mixed = [h for h, t in tally.items() if t["rejected"] and t["consistent"]]
    never = [h for h, t in tally.items() if not t["rejected"] and not t["consistent"]]
    parts = []
    counts = {h: f"{len(t['consistent'])} of {_tests(sum(map(len, t.values())))}" for h, t in tally.items()}
    if len(everywhere) == 1:
        parts.append(f"the chains follow the {everywhere[0]} prediction (consistent in {counts[everywhere[0]]})")
    elif everywhere:
        parts.append("the chains are consistent with the " + _names([f"{h} ({counts[h]})" for h in everywhere])
                     + " predictions")
    else:
        parts.append("no hypothesis is consistent in every test")
    if rejected:
        parts.append(f"{_names(rejected)} {'is' if len(rejected) == 1 else 'are'} rejected")
    parts += [f"{h} is rejected in {len(tally[h]['rejected'])} of "
              f"{_tests(len(tally[h]['rejected']) + len(tally[h]['consistent']))}" for h in mixed]
    if never:
        reasons = sorted({reason(r) for hypotheses in results(summary).values() for h, r in hypotheses.items()
                          if h in never})
        parts.append(f"{_names(never)} {'is' if len(never) == 1 else 'are'} untestable ({'; '.join(reasons)})")
    untestable = sorted({test for h, t in tally.items() if h not in never for test in t["untestable"]})
    if untestable:
        reasons = sorted({reason(results(summary)[test][h]) for test in untestable for h in tally
                          if h not in never and table[test].get(h) == "untestable"})
        parts.append(f"untestable in {_names(untestable)} ({'; '.join(reasons)})")
    if check and check.get("stationary") is None:
        parts.append(f"stationarity untestable ({check['reason']})")
    return "; ".join(parts) + _caveat(summary) + "."


def _caveat(summary: dict) -> str:
    """The divergence caveat of the conclusion, if the run has one."""
    if summary.get("divergence", {}).get("fraction") == 1:
        return "; caveat: 100% of the chains diverged, so no hypothesis could be tested"
    if not summary.get("warnings"):
        return ""
    return (f"; caveat: {summary['divergence']['fraction']:.0%} of the chains diverged, so these verdicts "
            "describe the surviving chains only")
