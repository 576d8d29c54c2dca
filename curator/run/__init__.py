"""What every stage shares: the Stage contract and its envelope (stage.py), the work folder a killed run
resumes from (workfolder.py), progress reporting (progress.py) and `--shard K/N` (sharding.py)."""
