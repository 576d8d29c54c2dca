"""Measuring curation against ground truth: detection quality, calibration, attack exposure."""
