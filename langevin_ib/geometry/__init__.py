"""The implicit-bias geometry of a declared symmetry, by autodiff (docs/theory.md §2–4): orbits and
G_χ (:mod:`.orbits`), the slice (:mod:`.slice`), charts of the quotient (:mod:`.charts`) and checks
that a declared action is a symmetry (:mod:`.checks`)."""

from langevin_ib.geometry.charts import chart_log_jacobian, chart_pushforward, quotient_log_density
from langevin_ib.geometry.orbits import (breaking, breaking_gram, breaking_jacobian, correction, generators,
                                         log_det_breaking_gram, orbit_gram, tangent_basis)
from langevin_ib.geometry.slice import breaking_drift, project_to_slice, slice_log_density, slice_stability
from langevin_ib.models.base import GroupAction

__all__ = ["GroupAction", "breaking", "breaking_drift", "breaking_gram", "breaking_jacobian", "chart_log_jacobian",
           "chart_pushforward", "correction", "generators", "log_det_breaking_gram", "orbit_gram", "project_to_slice",
           "quotient_log_density", "slice_log_density", "slice_stability", "tangent_basis"]
