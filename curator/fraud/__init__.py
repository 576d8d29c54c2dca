"""Fake (poisoning) users: every user's evidence (features*.py, evidence.py, anomaly.py), the PCA-VarSelect
baseline (baselines.py), a calibrator fitted on simulated attacks of the data itself (simulate.py,
calibrator.py) giving p(fake) per user (detector.py, with the LLM denoiser as an optional signal:
denoiser_signal.py), and the defense that drops or down-weights users through the ledger (actions.py,
defense.py); options in config.py."""
