"""Prompt templates (text files), shipped as package data."""
