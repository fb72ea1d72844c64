import os

import jax
from hypothesis import settings

import langevin_ib  # noqa: F401  before any backend starts: it sets XLA_FLAGS (numerics/xla_cpu.py)

jax.config.update("jax_numpy_rank_promotion", "raise")

# Two CPU devices in every test process, started here, as the CLI runs on a two-core machine
# (sharding.use_all_cpu_cores): the chains of a run split over both, in-process. The count is fixed
# here, before any test, so no result depends on which test a pytest-xdist worker ran first (an
# in-process `cli.main` keeps the devices it finds). One device is tested in subprocesses with their
# own XLA_FLAGS (tests/dynamics/test_sharding.py, tests/experiment/test_one_path.py).
jax.config.update("jax_num_cpu_devices", 2)
assert jax.device_count() == 2, jax.devices()

# property tests draw the same examples on every run, so a CI result is reproducible;
# HYPOTHESIS_PROFILE=default explores new ones
settings.register_profile("reproducible", derandomize=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "reproducible"))
