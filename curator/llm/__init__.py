"""The local LLM engine: load (+ quantize, + adapters), batched generation, likelihood scoring, embeddings.

curator never downloads a model: everything loads from local files (see models.py), in Hub offline mode only while it
loads (offline.py).
"""
