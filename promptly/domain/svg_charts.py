"""Line charts as inline SVG, for pages that must stand alone (the QA report's HTML is mailed
and archived as one file): no script, no external asset."""

from __future__ import annotations

import html
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

CHART_W, CHART_H = 560, 240
PAD_L, PAD_R, PAD_T, PAD_B = 48, 16, 28, 40


@dataclass(frozen=True)
class Series:
    name: str
    values: Sequence[float | None]
    color: str


def svg_chart(
    title: str,
    labels: Sequence[str],
    series: Sequence[Series],
    *,
    kind: str = "line",
    y_min: float = 0,
    y_max: float = 100,
    unit: str = "%",
) -> str:
    """A self-contained SVG line or bar chart; None values are gaps."""
    e = html.escape
    plot_w = CHART_W - PAD_L - PAD_R
    plot_h = CHART_H - PAD_T - PAD_B
    n = max(len(labels), 1)
    slot = plot_w / n

    def y(value: float) -> float:
        clamped = min(max(value, y_min), y_max)
        return PAD_T + plot_h * (1 - (clamped - y_min) / (y_max - y_min))

    def x(i: int) -> float:
        return PAD_L + slot * (i + 0.5)

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" '
        f'width="{CHART_W}" height="{CHART_H}" viewBox="0 0 {CHART_W} {CHART_H}">',
        f"<title>{e(title)}</title>",
        f'<text x="{PAD_L}" y="16" class="chart-title">{e(title)}</text>',
    ]
    for step in range(5):
        tick = y_min + (y_max - y_min) * step / 4
        parts.append(
            f'<line x1="{PAD_L}" x2="{CHART_W - PAD_R}" y1="{y(tick):.1f}" y2="{y(tick):.1f}" '
            f'class="grid"/><text x="{PAD_L - 6}" y="{y(tick) + 4:.1f}" class="axis" '
            f'text-anchor="end">{tick:g}{e(unit)}</text>'
        )
    for i, label in enumerate(labels):
        parts.append(
            f'<text x="{x(i):.1f}" y="{CHART_H - PAD_B + 16}" class="axis" '
            f'text-anchor="middle">{e(label)}</text>'
        )
    bars = max(len(series), 1)
    bar_w = slot * 0.7 / bars
    base = y(max(y_min, min(0.0, y_max)))
    for s_index, s in enumerate(series):
        if kind == "bar":
            for i, value in enumerate(s.values):
                if value is None:
                    continue
                left = x(i) - slot * 0.35 + bar_w * s_index
                top = min(y(value), base)
                parts.append(
                    f'<rect x="{left:.1f}" y="{top:.1f}" width="{bar_w:.1f}" '
                    f'height="{abs(base - y(value)):.1f}" fill="{s.color}" class="bar">'
                    f"<title>{e(s.name)} {e(labels[i])}: {value:g}{e(unit)}</title></rect>"
                )
            continue
        run: list[str] = []
        runs: list[list[str]] = [run]
        for i, value in enumerate(s.values):
            if value is None:
                run = []
                runs.append(run)
                continue
            run.append(f"{x(i):.1f},{y(value):.1f}")
            parts.append(
                f'<circle cx="{x(i):.1f}" cy="{y(value):.1f}" r="3.5" fill="{s.color}">'
                f"<title>{e(s.name)} {e(labels[i])}: {value:g}{e(unit)}</title></circle>"
            )
        for points in runs:
            if len(points) > 1:
                parts.append(
                    f'<polyline points="{" ".join(points)}" fill="none" '
                    f'stroke="{s.color}" stroke-width="2.5" class="line"/>'
                )
    legend_x = PAD_L
    for s in series:
        parts.append(
            f'<rect x="{legend_x}" y="{CHART_H - 14}" width="10" height="10" fill="{s.color}"/>'
            f'<text x="{legend_x + 14}" y="{CHART_H - 5}" class="legend">{e(s.name)}</text>'
        )
        legend_x += 24 + 7 * len(s.name)
    parts.append("</svg>")
    return "".join(parts)


def nice_max(values: Iterable[float | None], step: float = 20.0) -> float:
    """The smallest multiple of `step` (at least `step`) that fits every value."""
    highest = max([0.0, *(v for v in values if v is not None)])
    return step * max(1, math.ceil(highest / step))
