"""Input checks shared by the toy experiments: one-line errors before any work starts."""

from __future__ import annotations

import os
from collections.abc import Iterable

from monoscope.errors import MonoscopeError


def check_sizes(n: int, m: int, n_name: str = "n (features)", m_name: str = "m (hidden dimensions)") -> None:
    """Superposition needs at least as many features as dimensions: 0 < m <= n."""
    if int(n) <= 0 or int(m) <= 0:
        raise MonoscopeError(f"sizes must be positive integers, got {n_name}={n}, {m_name}={m}")
    if int(m) > int(n):
        raise MonoscopeError(f"{m_name}={m} must not exceed {n_name}={n}")


def check_positive(**sizes: float) -> None:
    for name, v in sizes.items():
        if not v > 0:
            raise MonoscopeError(f"{name} must be positive, got {v}")


def check_sparsities(values: Iterable[float]) -> None:
    """Sparsity S is the probability a feature is zero; S = 1 would mean no data at all."""
    for s in values:
        if not 0.0 <= float(s) < 1.0:
            raise MonoscopeError(f"sparsity S must lie in [0, 1), got {s}")


def memory_limit_bytes() -> int:
    """Half the machine's RAM, or MONOSCOPE_TOY_MEMORY_GIB when set."""
    env = os.environ.get("MONOSCOPE_TOY_MEMORY_GIB")
    if env:
        return int(float(env) * 2**30)
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") * 0.5)
    except (ValueError, OSError, AttributeError):
        return 8 * 2**30


def check_memory(n_bytes: float, what: str) -> None:
    """Refuse, before starting, a grid whose working tensors would not fit."""
    limit = memory_limit_bytes()
    if n_bytes > limit:
        raise MonoscopeError(
            f"{what} needs about {n_bytes / 2**30:.1f} GiB, more than the {limit / 2**30:.1f} GiB allowed; "
            "use fewer grid cells, seeds or a smaller batch (or set MONOSCOPE_TOY_MEMORY_GIB)"
        )
