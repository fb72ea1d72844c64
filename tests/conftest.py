import os

import jax
from hypothesis import settings

import langevin_ib  # noqa: F401  before any backend starts: it sets XLA_FLAGS (numerics/xla_cpu.py)

jax.config.update("jax_numpy_rank_promotion", "raise")

# One CPU device in every test process, started here: otherwise the count depended on which test a
# pytest-xdist worker ran first (an in-process `cli.main` asks for one device per core), and so did
# results that differ between one and two devices at float32 rounding (docs/sweeps.md). Several
# devices are tested in subprocesses with their own XLA_FLAGS (tests/dynamics/test_sharding.py, ...).
jax.config.update("jax_num_cpu_devices", 1)
jax.devices()

# property tests draw the same examples on every run, so a CI result is reproducible;
# HYPOTHESIS_PROFILE=default explores new ones
settings.register_profile("reproducible", derandomize=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "reproducible"))
