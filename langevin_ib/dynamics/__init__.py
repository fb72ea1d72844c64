"""Dynamics: integrators of the chains, the host loop (grid), the streamed accumulators and sharding."""
