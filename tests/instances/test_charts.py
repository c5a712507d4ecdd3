"""The instance page's usage charts: well-formed, escaped SVG whose geometry matches the samples."""
import re
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta

import pytest
from markupsafe import Markup, escape

from portal.instances.charts import HEADROOM, MARGIN_BOTTOM, MARGIN_TOP, Point, cpu_label, memory_label, usage_chart

SVG = "{http://www.w3.org/2000/svg}"
START = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
END = START + timedelta(hours=1)


def minutely(values, *, offset=0):
    return [Point(START + timedelta(minutes=offset + i), v) for i, v in enumerate(values)]


def render(points, **overrides):
    options = dict(limit=700, start=START, end=END, title="CPU", unit="millicores")
    options.update(overrides)
    return usage_chart(points, **options)


def parse(chart):
    return ET.fromstring(str(chart))


def polyline_coords(root):
    return [[tuple(map(float, pair.split(","))) for pair in line.get("points").split()]
            for line in root.iter(f"{SVG}polyline")]


def view_box(root):
    _, _, width, height = map(float, root.get("viewBox").split())
    return width, height


def limit_line(root):
    [line] = [line for line in root.iter(f"{SVG}line") if line.get("stroke-dasharray")]
    return line


def texts(root):
    return [t.text for t in root.iter(f"{SVG}text")]


def test_result_is_markup_of_a_well_formed_responsive_svg():
    chart = render(minutely([100, 200, 300]))
    assert isinstance(chart, Markup)
    assert str(escape(chart)) == str(chart)  # not escaped again when placed in a template
    root = parse(chart)
    assert root.tag == f"{SVG}svg"
    assert root.get("width") == "100%"
    assert root.get("viewBox") == "0 0 640 200"
    assert root.get("preserveAspectRatio")
    assert root.get("role") == "img"
    assert root.get("aria-label") == "CPU: now 300m of 700m limit"
    assert root.find(f"{SVG}title").text == "CPU: now 300m of 700m limit"
    assert "CPU · now 300m of 700m" in texts(root)


def test_one_polyline_vertex_per_in_window_sample():
    root = parse(render(minutely([50 + i for i in range(30)])))
    [line] = polyline_coords(root)
    assert len(line) == 30


def test_samples_outside_the_window_are_dropped():
    before = [Point(START - timedelta(minutes=m), 900) for m in (1, 2)]
    after = [Point(END + timedelta(minutes=m), 900) for m in (1, 2)]
    root = parse(render(before + minutely([100] * 10) + after))
    [line] = polyline_coords(root)
    assert len(line) == 10
    # The 900m samples were dropped, so they neither set the latest value nor stretch the scale.
    assert root.get("aria-label") == "CPU: now 100m of 700m limit"
    _, height = view_box(root)
    bottom = height - MARGIN_BOTTOM
    expected = bottom - 1 / HEADROOM * (bottom - MARGIN_TOP)
    assert float(limit_line(root).get("y1")) == pytest.approx(expected, abs=0.05)


def test_samples_are_drawn_in_time_order():
    points = minutely([10, 20, 30, 40, 50])
    root = parse(render(list(reversed(points))))
    [line] = polyline_coords(root)
    xs = [x for x, _ in line]
    assert xs == sorted(xs)
    assert root.get("aria-label").startswith("CPU: now 50m")


def test_a_long_gap_breaks_the_line():
    points = minutely([100] * 10) + minutely([200] * 10, offset=40)
    root = parse(render(points))
    lines = polyline_coords(root)
    assert [len(line) for line in lines] == [10, 10]
    assert len(list(root.iter(f"{SVG}polygon"))) == 2
    assert max(x for x, _ in lines[0]) < min(x for x, _ in lines[1])


def test_a_lone_sample_between_gaps_is_still_marked():
    points = minutely([100] * 5) + minutely([300], offset=20) + minutely([100] * 5, offset=40)
    root = parse(render(points))
    assert [len(line) for line in polyline_coords(root)] == [5, 1, 5]
    assert len(list(root.iter(f"{SVG}circle"))) == 1


def test_limit_line_sits_at_the_limit():
    root = parse(render(minutely([0, 700, 350])))
    _, height = view_box(root)
    bottom, top = height - MARGIN_BOTTOM, MARGIN_TOP
    expected = bottom - 700 / (700 * HEADROOM) * (bottom - top)
    line = limit_line(root)
    assert float(line.get("y1")) == pytest.approx(expected, abs=0.05)
    assert float(line.get("y2")) == float(line.get("y1"))
    [coords] = polyline_coords(root)
    assert coords[1][1] == float(line.get("y1"))  # the sample at the limit touches the line
    assert coords[0][1] == bottom  # and a zero sample sits on the baseline
    assert "limit 700m" in texts(root)


def test_values_above_the_limit_raise_the_scale():
    root = parse(render(minutely([300, 1500, 400])))
    width, height = view_box(root)
    [coords] = polyline_coords(root)
    for x, y in coords:
        assert 0 <= x <= width
        assert MARGIN_TOP <= y <= height - MARGIN_BOTTOM
    peak_y = coords[1][1]
    bottom = height - MARGIN_BOTTOM
    assert peak_y == pytest.approx(bottom - 1 / HEADROOM * (bottom - MARGIN_TOP), abs=0.05)
    assert float(limit_line(root).get("y1")) > peak_y  # the limit is now below the peak
    assert "1.5 vCPU" in texts(root)  # a gridline label beyond the limit


def test_gridlines_and_time_labels():
    root = parse(render(minutely([100] * 60)))
    grid = [line for line in root.iter(f"{SVG}line") if line.get("stroke") == "#e5e7ef"]
    assert 3 <= len(grid) <= 4
    assert {"0m", "200m", "400m", "600m"} <= set(texts(root))
    times = [t for t in texts(root) if len(t) == 5 and t[2] == ":"]
    assert 4 <= len(times) <= 6
    assert times[0] == "12:00" and times[-1] == "13:00"


def test_memory_chart_uses_memory_labels():
    points = minutely([400, 900, 1200])
    root = parse(render(points, limit=1434, title="Memory", unit="MiB"))
    assert "limit 1.4 GB" in texts(root)
    assert "Memory · now 1.2 GB of 1.4 GB" in texts(root)
    assert {"512 MB", "1 GB", "1.5 GB"} <= set(texts(root))


@pytest.mark.parametrize("millicores, label", [
    (0, "0m"), (250, "250m"), (700, "700m"), (12.34, "12.3m"), (999.96, "1 vCPU"),
    (1000, "1 vCPU"), (1500, "1.5 vCPU"), (2000, "2 vCPU")])
def test_cpu_label(millicores, label):
    assert cpu_label(millicores) == label


@pytest.mark.parametrize("mib, label", [
    (0, "0 MB"), (256, "256 MB"), (512, "512 MB"), (1023.5, "1023.5 MB"),
    (1024, "1 GB"), (1434, "1.4 GB"), (1536, "1.5 GB"), (4096, "4 GB")])
def test_memory_label(mib, label):
    assert memory_label(mib) == label


def test_hostile_title_and_unit_are_escaped():
    title = '<script>alert(1)</script> & "x"'
    chart = str(render(minutely([1, 2]), title=title, unit="<b>'u'</b>"))
    assert "<script>" not in chart and "<b>" not in chart
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; &#34;x&#34;" in chart
    root = ET.fromstring(chart)
    assert root.find(f"{SVG}title").text == f"{title}: now 2 <b>'u'</b> of 700 <b>'u'</b> limit"
    assert f"{title} · now 2 <b>'u'</b> of 700 <b>'u'</b>" in texts(root)


def test_coordinates_have_at_most_one_decimal():
    chart = str(render(minutely([123.456, 234.567, 345.678])))
    for coords in polyline_coords(ET.fromstring(chart)):
        for x, y in coords:
            assert round(x, 1) == x and round(y, 1) == y


@pytest.mark.parametrize("points", [[], [Point(START - timedelta(hours=2), 100)]])
def test_no_samples_in_the_window_says_so(points):
    root = parse(render(points, title="<CPU>"))
    assert root.get("viewBox") == "0 0 640 200"
    assert root.get("role") == "img"
    assert root.get("aria-label") == "<CPU>: no usage data yet"
    assert "No usage data yet" in texts(root)
    assert not list(root.iter(f"{SVG}polyline"))


def test_custom_size_sets_the_view_box():
    root = parse(render(minutely([100]), width=320, height=120))
    assert view_box(root) == (320, 120)


@pytest.mark.parametrize("overrides", [
    dict(start=START.replace(tzinfo=None)),
    dict(end=START),
    dict(limit=0),
    dict(width=40),
])
def test_rejects_unusable_arguments(overrides):
    with pytest.raises(ValueError):
        render(minutely([100]), **overrides)


def test_bar_chart_draws_one_bar_per_value_scaled_to_the_largest_and_escapes_labels():
    from portal.instances.charts import bar_chart

    svg = str(bar_chart([("Jan", 100.0), ("<b>", 50.0), ("Mar", 0.0)], title="Revenue",
                        value_label=lambda v: f"Rp {v:.0f}"))
    heights = [float(h) for h in re.findall(r'<rect [^>]*height="([\d.]+)"', svg)]
    assert len(heights) == 3 and heights[0] == pytest.approx(2 * heights[1], abs=0.2) and heights[2] == 0
    assert "&lt;b&gt;" in svg and "<b>" not in svg
    assert "Nothing yet" in str(bar_chart([("Jan", 0.0)], title="Revenue", value_label=str))
