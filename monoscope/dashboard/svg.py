"""Inline SVG bar charts: a plot per panel costs microseconds and needs no image files or network."""

from __future__ import annotations

from html import escape


def _fmt(v: float) -> str:
    return f"{v:.3g}"


def histogram(
    edges: list[float],
    counts: list[int],
    title: str,
    color: str = "#3b6ea8",
    width: int = 320,
    height: int = 110,
    log: bool = False,
) -> str:
    """Bars over `edges` (len(counts) + 1 values); `log` plots log10(1 + count)."""
    if not counts:
        return f'<p class="muted">{escape(title)}: no data</p>'
    import math

    hs = [math.log10(1 + c) if log else c for c in counts]
    top = max(hs) or 1
    pad_b, pad_t = 16, 4
    plot_h = height - pad_b - pad_t
    bw = width / len(counts)
    bars = []
    for j, (h, c) in enumerate(zip(hs, counts)):
        bh = plot_h * h / top
        bars.append(
            f'<rect x="{j * bw:.2f}" y="{pad_t + plot_h - bh:.2f}" width="{max(bw - 0.5, 0.5):.2f}" height="{bh:.2f}" '
            f'fill="{color}"><title>[{_fmt(edges[j])}, {_fmt(edges[j + 1])}): {c}</title></rect>'
        )
    return (
        f'<svg class="hist" role="img" aria-label="{escape(title)}" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" xmlns="http://www.w3.org/2000/svg">{"".join(bars)}'
        f'<line x1="0" y1="{height - pad_b}" x2="{width}" y2="{height - pad_b}" stroke="#999" stroke-width="0.5"/>'
        f'<text x="0" y="{height - 3}">{_fmt(edges[0])}</text>'
        f'<text x="{width}" y="{height - 3}" text-anchor="end">{_fmt(edges[-1])}</text></svg>'
    )
