"""Harvesting activations at a hook into sharded stores, and reading them back shuffled."""

from monoscope.activations.store import ActivationStore, HarvestConfig, harvest

__all__ = ["ActivationStore", "HarvestConfig", "harvest"]
