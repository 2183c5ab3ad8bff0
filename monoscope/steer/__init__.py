"""Interventions through an SAE: splice, clamp, scale, ablate, steering vectors, steered generation,
per-token effects, feature monitors and input search."""

from monoscope.steer.edits import Edit, parse_clamp, parse_positions
from monoscope.steer.splice import check_splice, edit_features, splice, steer, steering

__all__ = ["Edit", "check_splice", "edit_features", "parse_clamp", "parse_positions", "splice", "steer", "steering"]
