"""Simulated corruption with known truth: interaction noise (noise.py) and fake-user attacks (attacks.py),
combined by injection.py under one config (config.py); the ground truth goes to labels/, apart from the
tables."""
