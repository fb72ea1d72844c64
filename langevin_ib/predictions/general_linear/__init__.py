"""Full conditionals of the GL(r) factorisation UVᵀ: singular values on the slice, on level sets, along
level curves and over the fibre (with its quasi-Monte Carlo kernel), and mode energies."""
