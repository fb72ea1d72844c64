import os

import jax
from hypothesis import settings

jax.config.update("jax_numpy_rank_promotion", "raise")

# property tests draw the same examples on every run, so a CI result is reproducible;
# HYPOTHESIS_PROFILE=default explores new ones
settings.register_profile("reproducible", derandomize=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "reproducible"))
