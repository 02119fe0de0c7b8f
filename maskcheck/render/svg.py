"""The pictures of a report as SVG: the mask map, the layer-by-layer mask flow and the findings.

`render_svg(report)` is `Report.plot()`: one standalone SVG with all three panels. The HTML page
(`maskcheck.render.page`) shows the first two panels as SVGs of their own. Each panel is a list
of `xml.etree.ElementTree` elements laid out from (0, 0); `svg()` stacks panels into one picture.
"""

from __future__ import annotations

import math
import textwrap
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from itertools import chain
from typing import NamedTuple

from maskcheck.render.elements import element, num, sub, to_xml
from maskcheck.report import Finding, LayerTrace, MaskState, Report, Role, Severity

SVG_NS = "http://www.w3.org/2000/svg"
FONT = "font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace"
FONT_SIZE = 12  # px; a `style` sets other sizes
# SVG cannot measure text, yet a layout must know where a text ends to place what follows it.
# All text is monospace, and a monospace glyph is 3/5 em wide (Menlo, Consolas, DejaVu Sans Mono).
GLYPH_EM = 3 / 5

MAX_COLUMNS = 600  # wider sequences are drawn in buckets of steps (the most alarming state wins)


class Swatch(NamedTuple):
    label: str
    colour: str


# the colours are distinct for the common colour-vision deficiencies
STATES: dict[MaskState, Swatch] = {
    MaskState.REAL: Swatch("real step", "#4c78a8"),
    MaskState.PADDED: Swatch("padded, masked", "#d0d0d0"),
    MaskState.UNMASKED_PAD: Swatch("padded, NOT masked", "#e45756"),
    MaskState.HOLE: Swatch("hole: masked between real steps", "#f58518"),
    MaskState.PARTIAL: Swatch("part pad, part data (misreshaped)", "#b279a2"),
}
# which state a bucket of steps shows when it holds several
_PRIORITY = (MaskState.UNMASKED_PAD, MaskState.PARTIAL, MaskState.HOLE, MaskState.PADDED, MaskState.REAL)

ROLE_COLOUR = {
    Role.CREATES: "#54a24b",
    Role.PROPAGATES: "#4c78a8",
    Role.CONSUMES: "#b279a2",
    Role.DROPS: "#e45756",
    Role.NONE: "#bab0ac",
}
SEVERITY_COLOUR = {Severity.ERROR: "#c62828", Severity.WARNING: "#b26a00", Severity.INFO: "#2e6da4"}
INK = "#222222"
MUTED = "#555555"
DROP_FILL = "#fde2e1"
MASK_COLOUR = "#4c78a8"
FIX_COLOUR = "#2e7d32"
SMALL = "font-size: 10px"
LABEL = "font-size: 11px"
ON_COLOUR = "fill: #ffffff; font-size: 11px"  # text on a coloured pill


def text_width(text: str | int, size: float = FONT_SIZE) -> float:
    """The width of a text, or of that many glyphs, at a font size in px."""
    glyphs = text if isinstance(text, int) else len(text)
    return glyphs * size * GLYPH_EM


@dataclass(frozen=True)
class Panel:
    """Elements drawn from (0, 0), with the size they take."""

    width: float
    height: float
    items: list[ET.Element] = field(default_factory=list)

    def shifted(self, dx: float) -> Panel:
        """The panel moved right by `dx`, and that much wider on both sides."""
        group = element("g", transform=f"translate({num(dx)},0)")
        group.extend(self.items)
        return Panel(self.width + 2 * dx, self.height, [group])


def svg(panels: Sequence[Panel], gap: float = 16.0, title: str | None = None) -> ET.Element:
    """The panels stacked top to bottom, `gap` apart, as one <svg> element."""
    width = max((p.width for p in panels), default=0.0)
    height = sum(p.height for p in panels) + gap * max(0, len(panels) - 1)
    w, h = math.ceil(width), math.ceil(height)
    # `xmlns` as a plain attribute: ElementTree would otherwise invent a prefix (ns0:svg), and
    # the SVG must also sit inside an HTML tree whose elements have no namespace
    root = element(
        "svg", xmlns=SVG_NS, width=w, height=h, viewBox=f"0 0 {w} {h}", class_="maskcheck", role="img"
    )
    if title:
        sub(root, "title", title)
    sub(root, "style", f"text {{ {FONT}; font-size: {FONT_SIZE}px; }} .mc-b {{ font-weight: bold; }}")
    y = 0.0
    for p in panels:
        sub(root, "g", transform=f"translate(0,{num(y)})", fill=INK).extend(p.items)
        y += p.height + gap
    return root


def text(parent: ET.Element, x: float, y: float, content: str, **attrs: object) -> ET.Element:
    return sub(parent, "text", content, x=float(x), y=float(y), **attrs)


def _titled(tag: str, tip: str, **attrs: object) -> ET.Element:
    """An element with a <title> child: the tooltip a browser shows over it."""
    el = element(tag, **attrs)
    sub(el, "title", tip)
    return el


# -- panel 1: the mask map ------------------------------------------------------------------------


_STATE_OF = {int(s): s for s in MaskState}  # a dict lookup: maps can hold 64 x 100,000 steps


def states(rows: Iterable[Iterable[int]]) -> list[list[MaskState]]:
    """The rows of `Report.mask_map` (plain ints, as in the JSON) as `MaskState`s."""
    try:
        return [[_STATE_OF[s] for s in row] for row in rows]
    except KeyError as e:
        raise ValueError(f"{e.args[0]!r} in the mask map is not a MaskState value") from None


def state_counts(rows: Iterable[Iterable[int]]) -> dict[MaskState, int]:
    counts = Counter(chain.from_iterable(rows))
    return {state: counts[state] for state in MaskState}


def _bucket(row: Sequence[MaskState], size: int) -> list[tuple[int, int, MaskState]]:
    """(first step, number of steps, state) runs of a row, `size` steps per column."""
    cols: list[tuple[int, MaskState]] = []
    for start in range(0, len(row), size):
        chunk = set(row[start : start + size])
        state = next(s for s in _PRIORITY if s in chunk)
        cols.append((min(size, len(row) - start), state))
    runs: list[tuple[int, int, MaskState]] = []
    step = 0
    for n, state in cols:
        if runs and runs[-1][2] == state:
            first, count, _ = runs[-1]
            runs[-1] = (first, count + n, state)
        else:
            runs.append((step, n, state))
        step += n
    return runs


def _nice_step(span: int, target: int = 10) -> int:
    raw = max(1, span / target)
    mag = 10 ** math.floor(math.log10(raw))
    for m in (1, 2, 5, 10):
        if raw <= m * mag:
            return int(m * mag)
    return int(10 * mag)


def _no_picture(title: str, why: str) -> Panel:
    g = element("g")
    text(g, 0, 14, title, class_="mc-b")
    text(g, 0, 30, why)
    return Panel(520.0, 36.0, list(g))


def mask_map_panel(rows: Sequence[Sequence[int]] | None, samples_traced: int | None = None) -> Panel:
    """The samples x timesteps picture, with a legend that counts each state."""
    top, left = 30.0, 46.0
    if not rows or not rows[0]:
        why = "this report was made without one" if rows is None else "no input with a time axis to draw"
        return _no_picture("Mask map", f"no mask map: {why}")
    grid = states(rows)
    n, t = len(grid), max(len(r) for r in grid)
    size = math.ceil(t / MAX_COLUMNS) if t > MAX_COLUMNS else 1
    cols = math.ceil(t / size)
    cw = float(max(1, min(16, 600 // cols)))
    ch = float(max(4, min(14, 384 // n)))
    grid_w, grid_h = cols * cw, n * ch
    shown = f"the first {n} of {samples_traced}" if samples_traced and samples_traced > n else f"{n}"
    title = f"Mask map: {shown} traced samples x {t} steps"
    if size > 1:
        title += f" ({size} steps per column, the most alarming state shown)"
    g = element("g")
    text(g, 0, 14, title, class_="mc-b")
    cells = sub(g, "g", class_="mask-map")
    for i, row in enumerate(grid):
        for first, count, state in _bucket(row, size):
            steps = f"{first}-{first + count - 1}" if count > 1 else f"{first}"
            cells.append(
                _titled(
                    "rect",
                    f"sample {i}, step {steps}: {STATES[state].label}",
                    x=float(left + first // size * cw),
                    y=float(top + i * ch),
                    width=float(math.ceil(count / size) * cw),
                    height=ch,
                    fill=STATES[state].colour,
                    data_state=state,
                    data_steps=count,
                )
            )
    sub(g, "rect", x=left, y=top, width=grid_w, height=grid_h, fill="none", stroke=MUTED, stroke_width="0.5")
    label_every = max(1, math.ceil(n / max(1, int(grid_h // 14))))
    for i in range(0, n, label_every):
        text(g, left - 6, top + i * ch + ch / 2 + 4, str(i), text_anchor="end", style=SMALL)
    for s in range(0, t, _nice_step(t)):
        x = left + (s // size) * cw + cw / 2
        text(g, x, top + grid_h + 13, str(s), text_anchor="middle", style=SMALL)
    text(g, left, top + grid_h + 28, "timestep ->", style=SMALL)
    mid = top + grid_h / 2
    text(g, 12, mid, "sample", transform=f"rotate(-90 12 {num(mid)})", text_anchor="middle", style=SMALL)
    counts = state_counts(grid)
    y = top + grid_h + 46
    x = left
    width = left + grid_w
    for state, (label, colour) in STATES.items():
        caption = f"{label} ({counts[state]})"
        w = 18 + text_width(caption) + 16
        if x + w > max(width, 760.0) and x > left:
            x, y = left, y + 18
        item = sub(g, "g", class_="legend", data_state=state, data_count=counts[state])
        sub(item, "rect", x=float(x), y=float(y - 10), width="12", height="12", fill=colour)
        text(item, x + 18, y, caption)
        x += w
        width = max(width, x)
    return Panel(max(width, 520.0), y + 8, list(g))


# -- panel 2: the mask flow -----------------------------------------------------------------------


def _codes_by_layer(findings: Sequence[Finding]) -> dict[str, list[tuple[str, Severity]]]:
    """layer path -> [(code, severity)] of the findings about it, first occurrence of each code."""
    out: dict[str, list[tuple[str, Severity]]] = {}
    for f in findings:
        if f.layer:
            codes = out.setdefault(f.layer, [])
            if f.code not in [c for c, _s in codes]:
                codes.append((f.code, f.severity))
    return out


def _short(label: str, limit: int) -> str:
    return label if len(label) <= limit else label[: limit - 1] + "…"


def _row_notes(t: LayerTrace) -> list[str]:
    notes = []
    if t.symbolic_output_mask is not None and t.symbolic_output_mask != t.output_mask:
        notes.append(f"graph says {'masked' if t.symbolic_output_mask else 'unmasked'}")
    if t.calls > 1:
        notes.append(f"x{t.calls} calls")
    return notes


def _dot(parent: ET.Element, x: float, y: float, kind: str) -> None:
    """A mask marker: 'tensor' (filled), 'call' (ring: passed to call() only) or 'none'."""
    if kind == "tensor":
        sub(parent, "circle", cx=float(x), cy=float(y), r="6", fill=MASK_COLOUR)
    elif kind == "call":
        sub(
            parent,
            "circle",
            cx=float(x),
            cy=float(y),
            r="5",
            fill="#ffffff",
            stroke=MASK_COLOUR,
            stroke_width="2",
        )
    else:
        sub(parent, "circle", cx=float(x), cy=float(y), r="2", fill="#bbbbbb")


def _pill(
    parent: ET.Element, x: float, cy: float, width: float, rx: str, label: str, fill: str, **attrs: object
) -> None:
    """A label in white on a coloured rounded box, centred on the row at `cy`."""
    sub(parent, "rect", x=float(x), y=float(cy - 9), width=width, height="18", rx=rx, fill=fill, **attrs)
    text(parent, x + width / 2, cy + 4, label, text_anchor="middle", style=ON_COLOUR)


def _line(parent: ET.Element, x1: float, x2: float, y: float) -> None:
    sub(parent, "line", x1=float(x1), y1=float(y), x2=float(x2), y2=float(y), stroke="#999999")


def _flow_legend(parent: ET.Element, y: float) -> float:
    """The markers' and the roles' legend on the line at `y`; returns where it ends."""
    legend = sub(parent, "g", class_="legend")
    x = 6.0
    for kind, label in (
        ("tensor", "mask on the tensor"),
        ("call", "passed to call() only"),
        ("none", "no mask"),
    ):
        _dot(legend, x, y - 4, kind)
        text(legend, x + 12, y, label)
        x += 12 + text_width(label) + 20
    x += 8
    for role, colour in ROLE_COLOUR.items():
        sub(legend, "rect", x=x, y=y - 10, width="12", height="12", rx="6", fill=colour)
        text(legend, x + 16, y, role)
        x += 16 + text_width(role) + 14
    return x


def mask_flow_panel(layers: Sequence[LayerTrace], findings: Sequence[Finding] = ()) -> Panel:
    """One row per layer call: mask in, what the layer does with it, mask out; drops highlighted."""
    row_h, top = 24.0, 48.0
    title = "Mask flow: layer by layer (the real forward pass)"
    if not layers:
        return _no_picture(title, "no layer calls were traced")
    path_chars = min(44, max(len(t.path) for t in layers))
    class_chars = min(22, max(len(t.class_name) for t in layers))
    x_class = text_width(path_chars) + 14
    x_in = x_class + text_width(class_chars) + 22
    x_role, role_w = x_in + 26, 84.0
    x_out = x_role + role_w + 26
    x_share = x_out + 18
    x_note = x_share + 52
    codes = _codes_by_layer(findings)
    note_w = {id(t): sum(text_width(n, 11) + 10 for n in _row_notes(t)) for t in layers}
    right = max(x_note + note_w[id(t)] + 56 * len(codes.get(t.path, [])) for t in layers) + 8
    g = element("g")
    text(g, 0, 14, title, class_="mc-b")
    headers = ((0.0, "layer"), (x_class, "class"), (x_in - 8, "in"), (x_role, "role"), (x_out - 10, "out"))
    for x, label in (*headers, (x_share, "masked")):
        text(g, x, top - 10, label, class_="mc-b", style=LABEL)
    for i, t in enumerate(layers):
        y = top + i * row_h
        cy = y + row_h / 2
        role = str(t.role)
        row = _titled(
            "g", f"{t.path} ({t.class_name}): {role}", class_=f"row {role}", data_role=role, data_path=t.path
        )
        g.append(row)
        if t.role == Role.DROPS:
            sub(
                row,
                "rect",
                x=-4.0,
                y=float(y + 1),
                width=float(right + 4),
                height=float(row_h - 2),
                fill=DROP_FILL,
                stroke=ROLE_COLOUR[Role.DROPS],
                class_="drop-highlight",
            )
        text(row, 0, cy + 4, _short(t.path, path_chars))
        text(row, x_class, cy + 4, _short(t.class_name, class_chars), fill=MUTED)
        _dot(row, x_in, cy, "tensor" if t.input_mask else ("call" if t.received_mask else "none"))
        _line(row, x_in + 8, x_role - 4, cy)
        _pill(row, x_role, cy, role_w, "9", role, ROLE_COLOUR.get(t.role, "#bab0ac"), class_="role")
        _line(row, x_role + role_w + 4, x_out - 8, cy)
        _dot(row, x_out, cy, "tensor" if t.output_mask else "none")
        if t.masked_share is not None:
            text(row, x_share, cy + 4, f"{t.masked_share:.0%}")
        x = x_note
        for note in _row_notes(t):
            text(row, x, cy + 4, note, fill=MUTED, style=LABEL)
            x += text_width(note, 11) + 10
        for code, sev in codes.get(t.path, []):
            _pill(row, x, cy, 50.0, "3", code, SEVERITY_COLOUR.get(sev, MUTED))
            x += 56
    ly = top + len(layers) * row_h + 18
    end = _flow_legend(g, ly)
    return Panel(max(right + 8, end), ly + 8, list(g))


# -- panel 3: the findings ------------------------------------------------------------------------


def _wrap(paragraphs: str, width: int) -> list[str]:
    lines: list[str] = []
    for para in str(paragraphs).splitlines() or [""]:
        lines.extend(textwrap.wrap(para, width=width, break_on_hyphens=False) or [""])
    return lines


def findings_panel(findings: Sequence[Finding], width_chars: int = 110) -> Panel:
    g = element("g")
    text(g, 0, 14, f"Findings ({len(findings)})", class_="mc-b")
    y = 34.0
    if not findings:
        text(g, 0, y, "No findings: the mask reaches every layer that needs it.")
        return Panel(520.0, y + 8, list(g))
    for f in findings:
        where = f" [{f.layer}]" if f.layer else ""
        item = sub(g, "g", class_="finding", data_code=f.code)
        heading = f"{f.code} {f.name} ({f.severity}){where}"
        text(item, 0, y, heading, class_="mc-b", fill=SEVERITY_COLOUR.get(f.severity))
        y += 16
        for line in _wrap(f.message, width_chars):
            text(item, 16, y, line)
            y += 15
        for j, line in enumerate(_wrap(f"fix: {f.fix}", width_chars)):
            text(item, 16 if j == 0 else 48, y, line, fill=FIX_COLOUR)
            y += 15
        y += 8
    return Panel(16 + text_width(width_chars), y - 4, list(g))


# -- the whole picture ------------------------------------------------------------------------------


def _header(report: Report) -> Panel:
    meta = report.meta
    status = "ok" if report.ok else "NOT ok"
    line = (
        f"maskcheck report for model '{report.model_name}': {status}, "
        f"{len(report.findings)} finding(s), {meta.get('samples_traced', '?')} sequences traced"
    )
    # "keras 3.15.1" or "tf_keras 2.21.0" (reports from before keras_package say "keras <version>")
    labels = {"keras": meta.get("keras_package", "keras"), "backend": "backend"}
    sub_line = ", ".join(f"{labels[k]} {meta[k]}" for k in ("keras", "backend") if k in meta)
    g = element("g")
    text(g, 0, 16, line, class_="mc-b", style="font-size: 14px")
    if sub_line:
        text(g, 0, 34, sub_line, fill=MUTED)
    return Panel(text_width(line, 14) + 8, 40.0 if sub_line else 22.0, list(g))


def samples_traced(report: Report) -> int | None:
    samples = report.meta.get("samples_traced")
    return samples if isinstance(samples, int) else None


def render_svg(report: Report) -> str:
    """`Report.plot()`: the mask map, the mask flow and the findings in one standalone SVG."""
    panels = [
        _header(report),
        mask_map_panel(report.mask_map, samples_traced(report)),
        mask_flow_panel(report.layers, report.findings),
        findings_panel(report.findings),
    ]
    top = Panel(0.0, 4.0)  # a margin above the header
    picture = svg(
        [top, *(p.shifted(12) for p in panels)], title=f"maskcheck report for model '{report.model_name}'"
    )
    return to_xml(picture)
