"""Encoders chosen by name (``ENCODERS.get("resnet18")`` imports ``trainables.models.encoders``), heads and
checkpoint loading."""

from trainables.registry import ENCODERS

__all__ = ["ENCODERS"]
