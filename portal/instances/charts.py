"""Resource-usage charts rendered on the server as inline SVG, so the instance page needs no charting script."""
import math
import statistics
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from markupsafe import Markup, escape

LINE_COLOUR = "#3b3fd8"
FILL_COLOUR = "rgba(59,63,216,.12)"
LIMIT_COLOUR = "#d63384"
GRID_COLOUR = "#e5e7ef"
TEXT_COLOUR = "#6b6f8a"
FONT_FAMILY = "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif"

# Room above the taller of limit and peak, so neither is drawn on the chart's top edge.
HEADROOM = 1.1
# A sample arriving this many median intervals late means the instance was down, not slow to report.
GAP_FACTOR = 3
# Left fits labels as wide as "1.5 vCPU", right half a centred "18:00"; top holds the title, bottom the times.
MARGIN_LEFT, MARGIN_RIGHT, MARGIN_TOP, MARGIN_BOTTOM = 56, 20, 28, 22
# Tick steps that land on times people read at a glance (on the hour, quarter past, midnight...).
TICK_MINUTES = (1, 2, 5, 10, 15, 30, 60, 120, 180, 360, 720, 1440, 2880, 10080)
EMPTY_MESSAGE = _l("No usage data yet")


@dataclass(frozen=True)
class Point:
    """One sample: `at` is timezone-aware UTC; `value` is millicores for CPU, MiB for memory."""
    at: datetime
    value: float


def _num(value: float) -> str:
    text = f"{value:.1f}".removesuffix(".0")
    return "0" if text == "-0" else text


def cpu_label(millicores: float) -> str:
    """Millicores as people read them: 250 → "250m"; from a whole core on, 1500 → "1.5 vCPU"."""
    # Decide on the rounded value, so 999.96 reads "1 vCPU" rather than "1000m".
    if abs(round(millicores, 1)) < 1000:
        return f"{_num(millicores)}m"
    return f"{_num(millicores / 1000)} vCPU"


def memory_label(mib: float) -> str:
    """MiB as people read them: 512 → "512 MB", 1434 → "1.4 GB"."""
    if abs(round(mib, 1)) < 1024:
        return f"{_num(mib)} MB"
    return f"{_num(mib / 1024)} GB"


def _units(unit: str) -> tuple[Callable[[float], str], bool]:
    """The label for `unit`, and whether its gridlines should step in powers of two."""
    key = unit.strip().lower()
    if key in {"m", "millicores", "mcpu", "cpu"}:
        return cpu_label, False
    if key in {"mib", "mb", "memory"}:
        # Powers of two give 256 MB / 512 MB / 1 GB rather than 500 MB / 1000 MB.
        return memory_label, True
    return (lambda value: f"{_num(value)} {unit}".rstrip()), False


def _grid_step(top: float, binary: bool) -> float:
    """The smallest round step leaving two or three gridlines above the baseline."""
    # Every step is at most twice the one before, so the first with fewer than four
    # lines above zero still has at least two.
    if binary:
        exponent = math.floor(math.log2(top))
        candidates = [2.0 ** e for e in range(exponent - 3, exponent + 2)]
    else:
        exponent = math.floor(math.log10(top))
        candidates = [m * 10.0 ** e for e in range(exponent - 1, exponent + 2) for m in (1, 2, 2.5, 5)]
    return next(step for step in candidates if top / step < 4)


def _time_ticks(start: datetime, end: datetime) -> list[datetime]:
    for minutes in TICK_MINUTES:
        step = minutes * 60
        first = math.ceil(start.timestamp() / step) * step
        count = int((end.timestamp() - first) // step) + 1
        if count <= 6:
            if count >= 4:
                return [datetime.fromtimestamp(first + i * step, UTC) for i in range(count)]
            break
    # No round step fits (a window of a few minutes, or of months): five even ticks instead.
    return [start + (end - start) * i / 4 for i in range(5)]


def _segments(points: list[Point]) -> list[list[Point]]:
    gaps = [(b.at - a.at).total_seconds() for a, b in zip(points, points[1:], strict=False)]
    # Duplicate timestamps would make the median zero and every later gap look like an outage.
    positive = [gap for gap in gaps if gap > 0]
    if not positive:
        return [points]
    cutoff = GAP_FACTOR * statistics.median(positive)
    segments = [[points[0]]]
    for gap, point in zip(gaps, points[1:], strict=False):
        if gap > cutoff:
            segments.append([])
        segments[-1].append(point)
    return segments


def _text(x: float, y: float, content: str, *, anchor: str = "start", fill: str = TEXT_COLOUR,
          extra: str = "") -> str:
    return (f'<text x="{_num(x)}" y="{_num(y)}" text-anchor="{anchor}" fill="{fill}"{extra}>'
            f'{escape(content)}</text>')


def _line(x1: float, y1: float, x2: float, y2: float, stroke: str, extra: str = "") -> str:
    return (f'<line x1="{_num(x1)}" y1="{_num(y1)}" x2="{_num(x2)}" y2="{_num(y2)}" '
            f'stroke="{stroke}" stroke-width="1"{extra}/>')


def _svg(width: float, height: float, summary: str, body: list[str]) -> Markup:
    label = escape(summary)
    head = (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {_num(width)} {_num(height)}" '
            f'width="100%" preserveAspectRatio="xMidYMid meet" role="img" aria-label="{label}" '
            f'font-family="{FONT_FAMILY}" font-size="11px"><title>{label}</title>')
    # Safe to mark: every text and attribute value above and in `body` was escaped or generated here.
    return Markup(head + "".join(body) + "</svg>")


def usage_chart(points: list[Point], *, limit: float, start: datetime, end: datetime,
                title: str, unit: str, width: int = 640, height: int = 200) -> Markup:
    """An inline SVG line chart of `points` over [start, end] against `limit`.

    `unit` picks the labels: "millicores" (or "m", "cpu") for CPU, "MiB" (or "MB", "memory")
    for memory; any other unit is shown after the number as given.
    """
    if start.tzinfo is None or end.tzinfo is None:
        raise ValueError("start and end must be timezone-aware")
    if end <= start:
        raise ValueError("end must be after start")
    if not limit > 0:
        raise ValueError("limit must be positive")
    if width <= MARGIN_LEFT + MARGIN_RIGHT or height <= MARGIN_TOP + MARGIN_BOTTOM:
        raise ValueError("chart too small for its margins")
    start, end = start.astimezone(UTC), end.astimezone(UTC)
    label, binary = _units(unit)
    # A NaN from a broken metrics scrape would otherwise print as "nan" into the coordinates.
    shown = sorted((p for p in points if start <= p.at <= end and math.isfinite(p.value)), key=lambda p: p.at)

    if not shown:
        empty = str(EMPTY_MESSAGE)
        return _svg(width, height, f"{title}: {empty.lower()}", [
            _text(MARGIN_LEFT, 16, title),
            _text(width / 2, height / 2, empty, anchor="middle", extra=' dy=".32em"'),
        ])

    left, right, top, bottom = MARGIN_LEFT, width - MARGIN_RIGHT, MARGIN_TOP, height - MARGIN_BOTTOM
    span = (end - start).total_seconds()
    y_max = max(limit, max(p.value for p in shown)) * HEADROOM

    def x_of(moment: datetime) -> float:
        return left + (moment - start).total_seconds() / span * (right - left)

    def y_of(value: float) -> float:
        return bottom - value / y_max * (bottom - top)

    body: list[str] = []
    step = _grid_step(y_max, binary)
    for k in range(int(y_max / step) + 1):
        y = y_of(k * step)
        body.append(_line(left, y, right, y, GRID_COLOUR))
        body.append(_text(left - 6, y, label(k * step), anchor="end", extra=' dy=".32em"'))

    time_format = "%H:%M" if end - start <= timedelta(days=2) else "%d %b"
    previous = None
    for tick in _time_ticks(start, end):
        text = tick.strftime(time_format)
        if text != previous:  # sub-minute even ticks in a tiny window would repeat a label
            body.append(_text(x_of(tick), height - 6, text, anchor="middle"))
        previous = text

    segments = [[(x_of(p.at), y_of(p.value)) for p in segment] for segment in _segments(shown)]
    for coords in segments:
        outline = [(coords[0][0], bottom), *coords, (coords[-1][0], bottom)]
        body.append(f'<polygon points="{_points(outline)}" fill="{FILL_COLOUR}" stroke="none"/>')

    y_limit = y_of(limit)
    body.append(_line(left, y_limit, right, y_limit, LIMIT_COLOUR, ' stroke-dasharray="4 3"'))
    body.append(_text(right, y_limit - 4, _("limit %(value)s", value=label(limit)), anchor="end", fill=LIMIT_COLOUR))

    for coords in segments:
        body.append(f'<polyline points="{_points(coords)}" fill="none" stroke="{LINE_COLOUR}" '
                    f'stroke-width="1.5" stroke-linejoin="round" stroke-linecap="round"/>')
        if len(coords) == 1:
            # A one-point polyline draws nothing; a lone sample between outages still deserves a mark.
            x, y = coords[0]
            body.append(f'<circle cx="{_num(x)}" cy="{_num(y)}" r="2" fill="{LINE_COLOUR}"/>')

    now = _("now %(value)s of %(limit)s", value=label(shown[-1].value), limit=label(limit))
    body.append(_text(left, 16, f"{title} · {now}"))
    return _svg(width, height, _("%(title)s: %(now)s limit", title=title, now=now), body)


def _points(coords: list[tuple[float, float]]) -> str:
    return " ".join(f"{_num(x)},{_num(y)}" for x, y in coords)


def _text_width(text: str, font_size: float = 11) -> float:
    """A generous width for text at this size (wide sans-serif faces such as DejaVu: 0.65 em a character)."""
    return len(text) * 0.65 * font_size


def bar_chart(bars: list[tuple[str, float]], *, title: str, value_label: Callable[[float], str],
              width: int = 640, height: int = 220) -> Markup:
    """An inline SVG bar chart: one labelled bar per (label, value), e.g. revenue per month."""
    top = max((value for _, value in bars), default=0)
    if top <= 0:
        return _svg(width, height, f"{title}: nothing yet",
                    [_text(MARGIN_LEFT, 16, title, fill="#212529", extra=' font-weight="600"'),
                     _text(width / 2, height / 2, "Nothing yet", anchor="middle")])
    axis_label = value_label(top)
    # The axis label ends 6 units left of the plot: the margin grows to hold it ("Rp 1.250.000.000" is wide).
    left = max(MARGIN_LEFT, 6 + 4 + _text_width(axis_label))
    plot_w, plot_h = width - left - MARGIN_RIGHT, height - MARGIN_TOP - MARGIN_BOTTOM
    slot = plot_w / len(bars)
    base = MARGIN_TOP + plot_h
    body = [_text(left, 16, title, fill="#212529", extra=' font-weight="600"'),
            _line(left, base, width - MARGIN_RIGHT, base, GRID_COLOUR),
            _text(left - 6, MARGIN_TOP + 4, axis_label, anchor="end")]
    for index, (label, value) in enumerate(bars):
        # A month whose refunds passed its payments is below zero: drawn as no bar, its value still in the title.
        bar_h = max(plot_h * value / top / HEADROOM, 0) if top else 0
        x = left + index * slot + slot * 0.15
        body.append(f'<rect x="{_num(x)}" y="{_num(base - bar_h)}" width="{_num(slot * 0.7)}" '
                    f'height="{_num(bar_h)}" fill="{LINE_COLOUR}"><title>{escape(label)}: '
                    f'{escape(value_label(value))}</title></rect>')
        body.append(_text(x + slot * 0.35, height - 6, label, anchor="middle"))
    summary = f"{title}: " + ", ".join(f"{label} {value_label(value)}" for label, value in bars)
    return _svg(width, height, summary, body)
