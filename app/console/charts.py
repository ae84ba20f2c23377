"""Small bar charts drawn on the server as inline SVG, each with the same numbers as a
table (its text equivalent: screen readers and anyone who does not read colour)."""

from __future__ import annotations

from dataclasses import dataclass
from html import escape

WIDTH, HEIGHT, GAP = 320, 120, 2


@dataclass(frozen=True)
class Chart:
    title: str
    unit: str
    points: list[tuple[str, float]]  # label, value: the table's rows

    @property
    def svg(self) -> str:
        """Bars scaled to the largest value, labelled by `<title>` for hover."""
        if not self.points:
            return ""
        top = max(v for _, v in self.points) or 1.0
        width = (WIDTH - GAP * (len(self.points) - 1)) / len(self.points)
        bars = []
        for i, (label, value) in enumerate(self.points):
            height = max(1.0, HEIGHT * value / top) if value else 0.0
            x = i * (width + GAP)
            tip = escape(f"{label}: {_number(value)} {self.unit}")
            bars.append(
                f'<rect x="{x:.1f}" y="{HEIGHT - height:.1f}" width="{width:.1f}" '
                f'height="{height:.1f}"><title>{tip}</title></rect>'
            )
        return (
            f'<svg viewBox="0 0 {WIDTH} {HEIGHT}" class="chart" role="img" '
            f'aria-label="{escape(self.title)} (the table below has the numbers)">'
            + "".join(bars)
            + "</svg>"
        )

    @property
    def rows(self) -> list[tuple[str, str]]:
        return [(label, _number(value)) for label, value in self.points]


def _number(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.1f}"
