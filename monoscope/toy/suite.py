"""The ground-truth suite: a family of synthetic distributions an SAE's defaults must all handle.

One generator tuned once says little about the distribution a user brings, so
recovery is scored over several (issue 19): heavy-tailed power-law firing
rates with three exponents, strongly correlated groups, a parent/child
hierarchy (feature absorption's set-up), magnitudes over a wide range with
noise, and sizes from N = 0.5x to 4x of 8·d true features with the SAE's
d_sae below, at and above N. Sizes are given as multiples so one width `d`
sets the whole family.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from monoscope.errors import MonoscopeError
from monoscope.toy.synthetic import SyntheticConfig


@dataclass(frozen=True)
class Distribution:
    name: str
    n_mult: float  # N = n_mult · 8 · d
    d_sae_mult: float  # d_sae = d_sae_mult · N
    data: dict = field(default_factory=dict)  # SyntheticConfig settings beyond the base ones

    def build(self, d: int, seed: int = 0) -> tuple[SyntheticConfig, int]:
        """(generator settings, d_sae) at width d; a size the generator cannot build is one MonoscopeError line."""
        n = round(self.n_mult * 8 * d)
        d_sae = round(self.d_sae_mult * n)
        if n < 2 or d_sae < 2:
            raise MonoscopeError(
                f"distribution {self.name!r} at d={d} gives N={n} true features and d_sae={d_sae}; both must be >= 2"
            )
        try:
            return SyntheticConfig(n_true=n, d=d, seed=seed, **{**BASE, **self.data}), d_sae
        except MonoscopeError as e:
            raise MonoscopeError(f"distribution {self.name!r} at d={d} (N={n}): {e}") from None


# What every distribution shares unless it says otherwise: 4 active features on average, moderate co-firing.
BASE = {"mean_active": 4.0, "power": 0.5, "corr": 0.3, "group": 4, "mag_lo": 0.5, "mag_hi": 1.5}

SUITE: tuple[Distribution, ...] = (
    Distribution("power0.5", 1.0, 2.0),
    Distribution("power0.8", 1.0, 2.0, {"power": 0.8}),
    Distribution("power1.1", 1.0, 2.0, {"power": 1.1}),
    Distribution("correlated", 1.0, 2.0, {"corr": 0.7}),
    Distribution("hierarchical", 1.0, 2.0, {"children": 3}),
    Distribution("magnitudes+noise", 1.0, 2.0, {"mag_lo": 0.1, "mag_hi": 3.0, "noise": 0.05}),
    Distribution("N0.5x", 0.5, 1.0, {"power": 0.8}),
    Distribution("N4x", 4.0, 1.0, {"power": 0.8, "mean_active": 3.0}),
    Distribution("dsae<N", 2.0, 0.5, {"power": 0.8}),
)
BY_NAME = {s.name: s for s in SUITE}


def distributions(names: tuple[str, ...] = ()) -> list[Distribution]:
    """The suite's distributions named (all when none are)."""
    unknown = [n for n in names if n not in BY_NAME]
    if unknown:
        raise MonoscopeError(f"unknown suite distribution {unknown[0]!r}; known: {', '.join(BY_NAME)}")
    return [BY_NAME[n] for n in names] if names else list(SUITE)
