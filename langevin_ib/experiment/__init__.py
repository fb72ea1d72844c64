"""The experiment layer: the typed config, which tests a run plans, the job that runs and reports it,
figures, and predictions without simulating."""
