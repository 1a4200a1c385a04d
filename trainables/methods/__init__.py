"""The baselines, chosen by name: ``METHODS.get("scan")`` imports ``trainables.methods.scan`` on first use."""

from trainables.registry import METHODS

__all__ = ["METHODS"]
