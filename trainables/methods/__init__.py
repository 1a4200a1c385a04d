"""The baselines, chosen by name: ``METHODS.get("scan")``."""

from trainables.registry import Registry

METHODS: Registry = Registry("method")
