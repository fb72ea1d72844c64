import langevin_ib as lib

small = {"run.chains": 256, "run.chain_groups": 32, "run.burn_in": 500, "run.steps": 1000}
result = lib.run("configs/uv.yaml", small)  # a path, a dict or an Experiment; overrides by dotted key
print(result.conclusion)  # the CLI's last line
print(result.verdicts)  # test x hypothesis: verdict, z, p
figures = result.figures()  # matplotlib Figures: figures["density"], ...
result.save("runs/notebook")  # the files `langevin-ib run` writes

sweep = lib.sweep("configs/uv.yaml", {"dynamics.temperature": [0.05, 0.2]}, small)
print(sweep.table)  # sweep.csv's rows (sweep.table.to_pandas() where pandas is installed)
