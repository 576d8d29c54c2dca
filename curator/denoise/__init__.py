"""The LLM denoiser of interaction noise, and the baselines it must beat.

config.py         the options of `curator adapt` and `curator denoise`, and the values they take
training.py       `curator adapt`'s work: train, calibrate and save a denoise adapter
inference.py      a trained denoiser loaded for scoring (engine, adapter, item vectors, p per user)
cleaning.py       `curator denoise`'s work: chunked, resumable score and decide passes, the ledger
report.py         `curator evaluate`'s work: detection and replacement accuracy against known noise
denoiser.py       the denoiser an adapter folder holds (head, ranker, calibration) and its card's meta
model.py          the noise head and the replacement ranker (torch modules)
item_states.py    item texts through the LLM's layers (the item vectors)
context.py        the collaborative features (leave-one-user-out co-occurrence, cross-fitted factors)
corruption.py     the self-made swaps the denoiser learns and is calibrated on
calibration.py    the isotonic calibration of the noise logits
catalog.py        the catalog an adapter was trained on, and the check that an input is of it
outlook.py        what the gate would edit at other thresholds, at what expected precision
noise_share.py    the data's share of noise, estimated, and p restated at it
vector_cache.py   item vectors kept in the user cache between runs
card.py           the adapter's README card
scores.py         the score table every noise detector writes, and its ground truth
baselines.py      the trivial and collaborative baselines
"""
