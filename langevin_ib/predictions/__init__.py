"""Predicted densities: closed forms (u·v, harmonic), conditional forms of rescaling models (level set,
fibre, balance) and of the general-linear factorisation (singular values, mode energies)."""
