"""Encoders chosen by name (``ENCODERS.get("resnet18")``), heads and checkpoint loading."""

from trainables.registry import Registry

ENCODERS: Registry = Registry("encoder")

from trainables.models import encoders  # noqa: E402,F401  (registers the encoders)
