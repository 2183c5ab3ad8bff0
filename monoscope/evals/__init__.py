"""Reconstruction and downstream metrics (definitions in DESIGN.md and evals/metrics.py)."""

from monoscope.evals.metrics import EvalConfig, ablation_hook, evaluate

__all__ = ["EvalConfig", "ablation_hook", "evaluate"]
