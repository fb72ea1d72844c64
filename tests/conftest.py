import os
import shutil
import tempfile

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

# One persistent compilation cache per test session, shared by the pytest-xdist workers and the CLI
# subprocesses the tests start (they inherit these variables): a program compiled once, whichever
# test or process compiled it, is loaded, not recompiled (docs/engineering.md, "Test suite time").
# Its key is the program, the XLA flags, the devices and the jaxlib, so a process with other flags or
# another device count compiles its own. The session's first process makes the folder and removes it.
SESSION_CACHE = "LANGEVIN_IB_TEST_COMPILATION_CACHE"
_made_cache = SESSION_CACHE not in os.environ
if _made_cache:
    os.environ[SESSION_CACHE] = tempfile.mkdtemp(prefix="langevin-ib-jax-cache-")
    os.environ.update({"JAX_COMPILATION_CACHE_DIR": os.environ[SESSION_CACHE],
                       "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0",
                       "JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES": "0"})
jax.config.update("jax_compilation_cache_dir", os.environ[SESSION_CACHE])
jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)
jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)


def pytest_unconfigure(config):
    if _made_cache:
        shutil.rmtree(os.environ.pop(SESSION_CACHE), ignore_errors=True)


# property tests draw the same examples on every run, so a CI result is reproducible;
# HYPOTHESIS_PROFILE=default explores new ones
settings.register_profile("reproducible", derandomize=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "reproducible"))
