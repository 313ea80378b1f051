"""Models: Sequential (compile, fit, evaluate, predict, summary, save) and load_model."""
from __future__ import annotations

from .saving import load_model, save_model
from .sequential import Sequential

__all__ = ["Sequential", "load_model", "save_model"]
