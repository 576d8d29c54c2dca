"""curator: curate recommendation data with a small local LLM, then prove it with SASRec."""

__version__ = "0.1.0"
