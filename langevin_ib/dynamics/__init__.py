"""Dynamics: integrators of the chains, the chunked runner, the streamed accumulators and sharding."""
