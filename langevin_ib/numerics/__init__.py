"""Numerics beneath everything: LAPACK-free small linear algebra and an XLA:CPU workaround."""
