"""LoRA adapters (one folder each), shipped as package data."""
