"""The XLA:CPU workaround of langevin_ib.numerics.xla_cpu: importing the package must make jitted reductions
agree with eager ones on jaxlib 0.10.2, where the default offload to YNNPACK gets them wrong."""

import os
import subprocess
import sys
import textwrap

from langevin_ib.numerics import xla_cpu

REPRODUCER = textwrap.dedent("""
    import langevin_ib  # must come first: XLA reads XLA_FLAGS when its first backend starts
    import jax, jax.numpy as jnp
    i = jnp.arange(32_769, dtype=jnp.float32)
    x = jnp.stack((i, jnp.zeros_like(i), jnp.zeros_like(i)), axis=1)
    f = lambda x: jax.vmap(lambda row: jnp.sum((jnp.eye(3, dtype=jnp.float32) @ row) ** 2))(x)
    print(float(f(x)[-1]), float(jax.jit(f)(x)[-1]))
""")


def test_importing_the_package_makes_jitted_reductions_exact():
    """jax-ml/jax#39103's reproducer, in a fresh process with no XLA_FLAGS: the last entry is
    32768² = 1073741824, exact in float32 both ways. Without the workaround jaxlib 0.10.2 gives
    1065369600 under jit (measured on the 2-core VM); an earlier version of
    langevin_ib.predictions.general_linear.singular_fibre_qmc had log K off by up to 5 the same way."""
    env = {key: value for key, value in os.environ.items() if key != "XLA_FLAGS"}
    out = subprocess.run([sys.executable, "-c", REPRODUCER], env=env, capture_output=True, text=True, check=True)
    eager, jitted = (float(v) for v in out.stdout.split())
    assert eager == jitted == 32768.0**2, out.stdout


def test_the_flag_is_added_only_for_affected_jaxlibs_and_never_over_the_users():
    """Added from jaxlib 0.10.2 on (older XLAs abort on the unknown flag), kept as the user set it."""
    assert xla_cpu._version("0.10.2") >= xla_cpu.FIRST_AFFECTED > xla_cpu._version("0.10.1")
    assert xla_cpu._version("0.11.0.dev20260101") >= xla_cpu.FIRST_AFFECTED
    saved = os.environ.get("XLA_FLAGS")
    try:
        os.environ["XLA_FLAGS"] = f"{xla_cpu.FLAG}=+reduce --xla_force_host_platform_device_count=2"
        xla_cpu.disable_ynn_fusion()
        assert os.environ["XLA_FLAGS"] == f"{xla_cpu.FLAG}=+reduce --xla_force_host_platform_device_count=2"
    finally:
        if saved is None:
            os.environ.pop("XLA_FLAGS", None)
        else:
            os.environ["XLA_FLAGS"] = saved
