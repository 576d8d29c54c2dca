"""ID-based sequential recommenders (SASRec+, GRU4Rec), batching, training and full-ranking evaluation.

Knows nothing of LLMs, prompts or curator's dataset folders: its input is plain item-index sequences.
"""
