"""Datasets read from disk in their standard formats, chosen by name: ``DATASETS.get("coil20")``."""

from trainables.registry import Registry

DATASETS: Registry = Registry("dataset")
