"""Statistics that hold samples against predicted densities: the Rao–Scott Pearson test, Stein
identities on level sets, and the full-conditional PIT machinery."""
