"""Statistics that hold samples against predicted densities: the Rao–Scott Pearson test, Stein
identities on level sets, the full-conditional PIT machinery, and a binned test of a chain's
conditional mean increment (drift)."""
