"""Interaction-noise detectors: the shared score table, and the baselines the LLM denoiser must beat."""
