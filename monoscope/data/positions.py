"""Which positions of a token context count: the one rule for harvesting, splicing, evals, analysis and steering.

A position counts unless it is the BOS a context starts with, or its token is
a BOS or separator token anywhere (a document boundary carries no text). This
is SAELens's `exclude_special_tokens`: the SAE is trained, spliced, measured
and steered on the same positions, so an edit never touches a token the SAE
was not trained on and a metric never counts one.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Positions:
    special: tuple[int, ...] = ()  # token ids that never count (BOS, separator)
    first_is_bos: bool = True  # position 0 holds a prepended BOS (whatever its id)

    def mask(self, tokens: torch.Tensor) -> torch.Tensor:
        """Bool [..., T]: True where a position counts."""
        keep = torch.ones_like(tokens, dtype=torch.bool)
        for i in self.special:
            keep &= tokens != i
        if self.first_is_bos and tokens.shape[-1]:
            keep[..., 0] = False
        return keep

    @classmethod
    def of(cls, positions: Positions | int | None) -> Positions:
        """A rule from a rule, a BOS id (the built-in datasets: BOS is also the separator) or None (position 0 only)."""
        if positions is None:
            return cls()
        if isinstance(positions, Positions):
            return positions
        return cls((int(positions),))
