"""Superposition from first principles: toy models, Johnson–Lindenstrauss packings,
compressed sensing, and synthetic ground truth for SAEs. Needs no language model.

Each experiment is one module with a config dataclass and
`run(cfg, out, progress) -> numbers`; `run_experiment` writes its PNG figures
and `<experiment>.json` into a run folder.
"""

from monoscope.toy.runner import EXPERIMENTS, make_config, run_experiment

__all__ = ["EXPERIMENTS", "make_config", "run_experiment"]
