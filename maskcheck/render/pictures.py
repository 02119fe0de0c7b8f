"""Pictures of a report: the mask map, the layer-by-layer mask flow and the findings.

SVG and HTML are written directly as text (no plotting library, so the core install stays light).
Everything produced here is well-formed XML: the SVG parses with `xml.etree`, and so does the HTML
once its `<!DOCTYPE html>` line is dropped.

- `render_svg(report)` is `Report.plot()`: one standalone SVG with the mask map, the mask flow and
  the findings.
- `render_html(report)` is `Report.to_html()`; `render_html(report, full=False)` is the fragment
  that `Report._repr_html_` gives Jupyter.
"""

from __future__ import annotations

import math
import re
import textwrap
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from maskcheck.report import MaskState

if TYPE_CHECKING:
    from maskcheck.report import Finding, LayerTrace, Report

MAX_COLUMNS = 600  # wider sequences are drawn in buckets of steps (the most alarming state wins)


REAL, PADDED, UNMASKED_PAD, HOLE, PARTIAL = (
    MaskState.REAL,
    MaskState.PADDED,
    MaskState.UNMASKED_PAD,
    MaskState.HOLE,
    MaskState.PARTIAL,
)

# (state, label, colour); the colours are distinct for the common colour-vision deficiencies
STATES: tuple[tuple[int, str, str], ...] = (
    (REAL, "real step", "#4c78a8"),
    (PADDED, "padded, masked", "#d0d0d0"),
    (UNMASKED_PAD, "padded, NOT masked", "#e45756"),
    (HOLE, "hole: masked between real steps", "#f58518"),
    (PARTIAL, "part pad, part data (misreshaped)", "#b279a2"),
)
STATE_COLOUR = {state: colour for state, _label, colour in STATES}
STATE_LABEL = {state: label for state, label, _colour in STATES}
# which state a bucket of steps shows when it holds several
_PRIORITY = (UNMASKED_PAD, PARTIAL, HOLE, PADDED, REAL)

ROLE_COLOUR = {
    "creates": "#54a24b",
    "propagates": "#4c78a8",
    "consumes": "#b279a2",
    "drops": "#e45756",
    "none": "#bab0ac",
}
SEVERITY_COLOUR = {"error": "#c62828", "warning": "#b26a00", "info": "#2e6da4"}
DROP_FILL = "#fde2e1"

FONT = "font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace"
CHAR_W = 7.2  # width of one 12px monospace character
SVG_NS = "http://www.w3.org/2000/svg"


# -- SVG helpers ----------------------------------------------------------------------------------

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def esc(value: object) -> str:
    """Text or attribute value, escaped for XML (control characters dropped)."""
    text = _CONTROL.sub("", str(value))
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


def _num(v: float) -> str:
    return f"{v:.1f}".rstrip("0").rstrip(".")


def _attrs(attrs: dict[str, object]) -> str:
    parts = []
    for key, value in attrs.items():
        if value is None:
            continue
        parts.append(
            f'{key.rstrip("_").replace("_", "-")}="{esc(_num(value) if isinstance(value, float) else value)}"'
        )
    return " ".join(parts)


def _el(tag: str, body: str | None = None, **attrs: object) -> str:
    a = _attrs(attrs)
    head = f"<{tag} {a}" if a else f"<{tag}"
    return f"{head}/>" if body is None else f"{head}>{body}</{tag}>"


def _text(x: float, y: float, content: str, **attrs: object) -> str:
    return _el("text", esc(content), x=float(x), y=float(y), **attrs)


@dataclass(frozen=True)
class Panel:
    """A block of SVG elements drawn from (0, 0), with its size."""

    width: float
    height: float
    body: str


def _svg(panels: Sequence[Panel], gap: float = 16.0, title: str | None = None) -> str:
    width = max((p.width for p in panels), default=0.0)
    height = sum(p.height for p in panels) + gap * max(0, len(panels) - 1)
    parts = []
    y = 0.0
    for p in panels:
        parts.append(f'<g transform="translate(0,{_num(y)})" fill="#222222">{p.body}</g>')
        y += p.height + gap
    style = f"<style>text {{ {FONT}; font-size: 12px; }} .mc-b {{ font-weight: bold; }}</style>"
    head = _el("title", esc(title)) if title else ""
    w, h = math.ceil(width), math.ceil(height)
    return (
        f'<svg xmlns="{SVG_NS}" width="{w}" height="{h}" viewBox="0 0 {w} {h}" '
        f'class="maskcheck" role="img">{head}{style}{"".join(parts)}</svg>'
    )


def _wrap(text: str, width: int) -> list[str]:
    lines: list[str] = []
    for para in str(text).splitlines() or [""]:
        lines.extend(textwrap.wrap(para, width=width, break_on_hyphens=False) or [""])
    return lines


# -- panel 1: the mask map ------------------------------------------------------------------------


def state_counts(rows: Iterable[Iterable[int]]) -> dict[int, int]:
    counts = {state: 0 for state, _l, _c in STATES}
    for row in rows:
        for s in row:
            counts[int(s)] = counts.get(int(s), 0) + 1
    return counts


def _bucket(row: Sequence[int], size: int) -> list[tuple[int, int, int]]:
    """(first step, number of steps, state) runs of a row, `size` steps per column."""
    cols: list[tuple[int, int]] = []
    for start in range(0, len(row), size):
        chunk = set(row[start : start + size])
        state = next((s for s in _PRIORITY if s in chunk), int(row[start]))
        cols.append((min(size, len(row) - start), state))
    runs: list[tuple[int, int, int]] = []
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


def mask_map_panel(rows: Sequence[Sequence[int]] | None, samples_traced: int | None = None) -> Panel:
    """The samples x timesteps picture, with a legend that counts each state."""
    top, left = 30.0, 46.0
    if not rows or not rows[0]:
        why = (
            "no mask map: this report was made without one"
            if rows is None
            else "no mask map: no input with a time axis to draw"
        )
        return Panel(520.0, 36.0, _text(0, 14, "Mask map", class_="mc-b") + _text(0, 30, why))
    n, t = len(rows), max(len(r) for r in rows)
    size = math.ceil(t / MAX_COLUMNS) if t > MAX_COLUMNS else 1
    cols = math.ceil(t / size)
    cw = float(max(1, min(16, 600 // cols)))
    ch = float(max(4, min(14, 384 // n)))
    grid_w, grid_h = cols * cw, n * ch
    shown = f"the first {n} of {samples_traced}" if samples_traced and samples_traced > n else f"{n}"
    title = f"Mask map: {shown} traced samples x {t} steps"
    if size > 1:
        title += f" ({size} steps per column, the most alarming state shown)"
    out = [_text(0, 14, title, class_="mc-b")]
    cells = []
    for i, row in enumerate(rows):
        y = top + i * ch
        for first, count, state in _bucket(list(row), size):
            tip = f"sample {i}, step {first}" + (f"-{first + count - 1}" if count > 1 else "")
            cells.append(
                _el(
                    "rect",
                    _el("title", esc(f"{tip}: {STATE_LABEL.get(state, state)}")),
                    x=float(left + first // size * cw),
                    y=float(y),
                    width=float(math.ceil(count / size) * cw),
                    height=float(ch),
                    fill=STATE_COLOUR.get(state, "#000000"),
                    data_state=state,
                    data_steps=count,
                )
            )
    out.append(_el("g", "".join(cells), class_="mask-map"))
    out.append(
        _el(
            "rect",
            x=left,
            y=top,
            width=float(grid_w),
            height=float(grid_h),
            fill="none",
            stroke="#555555",
            stroke_width="0.5",
        )
    )
    label_every = max(1, math.ceil(n / max(1, int(grid_h // 14))))
    for i in range(0, n, label_every):
        out.append(
            _text(left - 6, top + i * ch + ch / 2 + 4, str(i), text_anchor="end", style="font-size: 10px")
        )
    tick = _nice_step(t)
    for s in [*range(0, t, tick)]:
        x = left + (s // size) * cw + cw / 2
        out.append(_text(x, top + grid_h + 13, str(s), text_anchor="middle", style="font-size: 10px"))
    out.append(_text(left, top + grid_h + 28, "timestep ->", style="font-size: 10px"))
    out.append(
        _text(
            12,
            top + grid_h / 2,
            "sample",
            transform=f"rotate(-90 12 {_num(top + grid_h / 2)})",
            text_anchor="middle",
            style="font-size: 10px",
        )
    )
    counts = state_counts(rows)
    y = top + grid_h + 46
    x = left
    items = []
    width = left + grid_w
    for state, label, colour in STATES:
        text = f"{label} ({counts.get(state, 0)})"
        w = 18 + len(text) * CHAR_W + 16
        if x + w > max(width, 760.0) and x > left:
            x, y = left, y + 18
        items.append(
            _el(
                "g",
                _el("rect", x=float(x), y=float(y - 10), width="12", height="12", fill=colour)
                + _text(x + 18, y, text),
                class_="legend",
                data_state=state,
                data_count=counts.get(state, 0),
            )
        )
        x += w
        width = max(width, x)
    out.extend(items)
    return Panel(max(width, 520.0), y + 8, "".join(out))


# -- panel 2: the mask flow -----------------------------------------------------------------------


def _codes_by_layer(findings: Sequence[Finding]) -> dict[str, list[tuple[str, str]]]:
    """layer path -> [(code, severity)] of the findings about it, first occurrence of each code."""
    out: dict[str, list[tuple[str, str]]] = {}
    for f in findings:
        if f.layer:
            codes = out.setdefault(f.layer, [])
            if f.code not in [c for c, _s in codes]:
                codes.append((f.code, str(f.severity)))
    return out


def _short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _row_notes(t: LayerTrace) -> list[str]:
    notes = []
    if t.symbolic_output_mask is not None and t.symbolic_output_mask != t.output_mask:
        notes.append(f"graph says {'masked' if t.symbolic_output_mask else 'unmasked'}")
    if t.calls > 1:
        notes.append(f"x{t.calls} calls")
    return notes


def _dot(x: float, y: float, kind: str) -> str:
    """A mask marker: 'tensor' (filled), 'call' (ring: passed to call() only) or 'none'."""
    if kind == "tensor":
        return _el("circle", cx=float(x), cy=float(y), r="6", fill="#4c78a8")
    if kind == "call":
        return _el(
            "circle", cx=float(x), cy=float(y), r="5", fill="#ffffff", stroke="#4c78a8", stroke_width="2"
        )
    return _el("circle", cx=float(x), cy=float(y), r="2", fill="#bbbbbb")


def mask_flow_panel(layers: Sequence[LayerTrace], findings: Sequence[Finding] = ()) -> Panel:
    """One row per layer call: mask in, what the layer does with it, mask out; drops highlighted."""
    row_h, top = 24.0, 48.0
    title = _text(0, 14, "Mask flow: layer by layer (the real forward pass)", class_="mc-b")
    if not layers:
        return Panel(520.0, 36.0, title + _text(0, 30, "no layer calls were traced"))
    path_chars = min(44, max(len(t.path) for t in layers))
    class_chars = min(22, max(len(t.class_name) for t in layers))
    x_class = path_chars * CHAR_W + 14
    x_in = x_class + class_chars * CHAR_W + 22
    x_role, role_w = x_in + 26, 84.0
    x_out = x_role + role_w + 26
    x_share = x_out + 18
    x_note = x_share + 52
    codes = _codes_by_layer(findings)
    note_w = {id(t): sum(len(n) * 6.6 + 10 for n in _row_notes(t)) for t in layers}
    right = max(x_note + note_w[id(t)] + 56 * len(codes.get(t.path, [])) for t in layers) + 8
    out = [title]
    for x, label in (
        (0.0, "layer"),
        (x_class, "class"),
        (x_in - 8, "in"),
        (x_role, "role"),
        (x_out - 10, "out"),
        (x_share, "masked"),
    ):
        out.append(_text(x, top - 10, label, class_="mc-b", style="font-size: 11px"))
    for i, t in enumerate(layers):
        y = top + i * row_h
        cy = y + row_h / 2
        role = str(t.role)
        parts = [_el("title", esc(f"{t.path} ({t.class_name}): {role}"))]
        if role == "drops":
            parts.append(
                _el(
                    "rect",
                    x=-4.0,
                    y=float(y + 1),
                    width=float(right + 4),
                    height=float(row_h - 2),
                    fill=DROP_FILL,
                    stroke=ROLE_COLOUR["drops"],
                    class_="drop-highlight",
                )
            )
        parts.append(_text(0, cy + 4, _short(t.path, path_chars)))
        parts.append(_text(x_class, cy + 4, _short(t.class_name, class_chars), fill="#555555"))
        parts.append(_dot(x_in, cy, "tensor" if t.input_mask else ("call" if t.received_mask else "none")))
        parts.append(_line(x_in + 8, cy, x_role - 4, cy))
        parts.append(
            _el(
                "rect",
                x=float(x_role),
                y=float(cy - 9),
                width=role_w,
                height="18",
                rx="9",
                fill=ROLE_COLOUR.get(role, "#bab0ac"),
                class_="role",
            )
        )
        parts.append(
            _text(
                x_role + role_w / 2,
                cy + 4,
                role,
                text_anchor="middle",
                style="fill: #ffffff; font-size: 11px",
            )
        )
        parts.append(_line(x_role + role_w + 4, cy, x_out - 8, cy))
        parts.append(_dot(x_out, cy, "tensor" if t.output_mask else "none"))
        if t.masked_share is not None:
            parts.append(_text(x_share, cy + 4, f"{t.masked_share:.0%}"))
        x = x_note
        for note in _row_notes(t):
            parts.append(_text(x, cy + 4, note, fill="#555555", style="font-size: 11px"))
            x += len(note) * 6.6 + 10
        for code, sev in codes.get(t.path, []):
            colour = SEVERITY_COLOUR.get(sev, "#555555")
            parts.append(
                _el("rect", x=float(x), y=float(cy - 9), width="50", height="18", rx="3", fill=colour)
            )
            parts.append(
                _text(x + 25, cy + 4, code, text_anchor="middle", style="fill: #ffffff; font-size: 11px")
            )
            x += 56
        out.append(_el("g", "".join(parts), class_=f"row {role}", data_role=role, data_path=t.path))
    ly = top + len(layers) * row_h + 18
    legend = [
        _dot(6, ly - 4, "tensor"),
        _text(18, ly, "mask on the tensor"),
        _dot(168, ly - 4, "call"),
        _text(180, ly, "passed to call() only"),
        _dot(352, ly - 4, "none"),
        _text(362, ly, "no mask"),
    ]
    x = 440.0
    for role, colour in ROLE_COLOUR.items():
        legend.append(_el("rect", x=x, y=ly - 10, width="12", height="12", rx="6", fill=colour))
        legend.append(_text(x + 16, ly, role))
        x += 16 + len(role) * CHAR_W + 14
    out.append(_el("g", "".join(legend), class_="legend"))
    return Panel(max(right + 8, x), ly + 8, "".join(out))


def _line(x1: float, y1: float, x2: float, y2: float) -> str:
    return _el("line", x1=float(x1), y1=float(y1), x2=float(x2), y2=float(y2), stroke="#999999")


# -- panel 3: the findings ------------------------------------------------------------------------


def findings_panel(findings: Sequence[Finding], width_chars: int = 110) -> Panel:
    out = [_text(0, 14, f"Findings ({len(findings)})", class_="mc-b")]
    y = 34.0
    if not findings:
        out.append(_text(0, y, "No findings: the mask reaches every layer that needs it."))
        return Panel(520.0, y + 8, "".join(out))
    for f in findings:
        where = f" [{f.layer}]" if f.layer else ""
        sev = str(f.severity)
        lines = [
            _text(0, y, f"{f.code} {f.name} ({sev}){where}", class_="mc-b", fill=SEVERITY_COLOUR.get(sev))
        ]
        y += 16
        for line in _wrap(f.message, width_chars):
            lines.append(_text(16, y, line))
            y += 15
        for j, line in enumerate(_wrap(f"fix: {f.fix}", width_chars)):
            lines.append(_text(16 if j == 0 else 48, y, line, fill="#2e7d32"))
            y += 15
        y += 8
        out.append(_el("g", "".join(lines), class_="finding", data_code=f.code))
    return Panel(16 + width_chars * CHAR_W, y - 4, "".join(out))


# -- the whole picture ------------------------------------------------------------------------


def _header(report: Report) -> Panel:
    meta = report.meta
    status = "ok" if report.ok else "NOT ok"
    line = (
        f"maskcheck report for model '{report.model_name}': {status}, "
        f"{len(report.findings)} finding(s), {meta.get('samples_traced', '?')} sequences traced"
    )
    sub = ", ".join(f"{k} {meta[k]}" for k in ("keras", "backend") if k in meta)
    body = _text(0, 16, line, class_="mc-b", style="font-size: 14px")
    if sub:
        body += _text(0, 34, sub, fill="#555555")
    return Panel(len(line) * 8.4 + 8, 40.0 if sub else 22.0, body)


def render_svg(report: Report) -> str:
    """`Report.plot()`: the mask map, the mask flow and the findings in one standalone SVG."""
    samples = report.meta.get("samples_traced")
    panels = [
        _header(report),
        mask_map_panel(report.mask_map, samples if isinstance(samples, int) else None),
        mask_flow_panel(report.layers, report.findings),
        findings_panel(report.findings),
    ]
    padded = [Panel(p.width + 24, p.height, f'<g transform="translate(12,0)">{p.body}</g>') for p in panels]
    top = Panel(0.0, 4.0, "")
    return _svg([top, *padded], title=f"maskcheck report for model '{report.model_name}'")


# -- HTML -------------------------------------------------------------------------------------------

_CSS = """
.maskcheck-report { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; color: #222; max-width: 1200px; }
.maskcheck-report h2 { font-size: 1.3em; margin: 0.4em 0; }
.maskcheck-report h3 { font-size: 1.05em; margin: 1.2em 0 0.4em 0; }
.maskcheck-report .status-ok { color: #2e7d32; font-weight: bold; }
.maskcheck-report .status-bad { color: #c62828; font-weight: bold; }
.maskcheck-report .picture { overflow-x: auto; }
.maskcheck-report .finding { border-left: 4px solid #999; padding: 0.2em 0.8em; margin: 0.6em 0; }
.maskcheck-report .finding.error { border-color: #c62828; }
.maskcheck-report .finding.warning { border-color: #b26a00; }
.maskcheck-report .finding.info { border-color: #2e6da4; }
.maskcheck-report .finding p { margin: 0.25em 0; }
.maskcheck-report .fix { color: #2e7d32; }
.maskcheck-report code { background: #f3f3f3; padding: 0 0.2em; }
.maskcheck-report table { border-collapse: collapse; font-size: 0.85em; }
.maskcheck-report th, .maskcheck-report td { border-bottom: 1px solid #ddd; padding: 2px 8px; text-align: left; }
.maskcheck-report tr.drops td { background: #fde2e1; }
"""


def _inline(text: str) -> str:
    """Escape, and show `backticked` spans as code."""
    parts = str(text).split("`")
    return "".join(esc(p) if i % 2 == 0 else f"<code>{esc(p)}</code>" for i, p in enumerate(parts))


def _layer_table(layers: Sequence[LayerTrace]) -> str:
    head = (
        "<tr><th>layer</th><th>class</th><th>input</th><th>output</th><th>mask in</th>"
        "<th>mask out</th><th>masked</th><th>supports</th><th>role</th><th>graph mask</th><th>calls</th></tr>"
    )

    def yes(flag: bool | None) -> str:
        return "" if flag is None else ("yes" if flag else "-")

    body = []
    for t in layers:
        cells = [
            t.path,
            t.class_name,
            t.input_shape,
            t.output_shape,
            "yes" if t.input_mask else ("call" if t.received_mask else "-"),
            yes(t.output_mask),
            "" if t.masked_share is None else f"{t.masked_share:.0%}",
            yes(t.supports_masking),
            str(t.role),
            yes(t.symbolic_output_mask),
            str(t.calls) if t.calls > 1 else "",
        ]
        body.append(f'<tr class="{esc(t.role)}">' + "".join(f"<td>{esc(c)}</td>" for c in cells) + "</tr>")
    return f"<table>{head}{''.join(body)}</table>"


def render_html(report: Report, full: bool = True) -> str:
    """`Report.to_html()`: a self-contained page; `full=False` gives the fragment for Jupyter."""
    samples = report.meta.get("samples_traced")
    status = (
        '<span class="status-ok">ok</span>'
        if report.ok
        else '<span class="status-bad">NOT ok (error findings)</span>'
    )
    meta = ", ".join(f"{esc(k)}: {esc(v)}" for k, v in report.meta.items())
    parts = [
        f"<style>{_CSS}</style>",
        f"<h2>maskcheck report for model <code>{esc(report.model_name)}</code></h2>",
        f"<p>{status}; {len(report.findings)} finding(s). {meta}</p>",
        "<h3>Mask map</h3>",
        '<div class="picture">'
        + _svg([mask_map_panel(report.mask_map, samples if isinstance(samples, int) else None)])
        + "</div>",
        "<h3>Mask flow</h3>",
        '<div class="picture">' + _svg([mask_flow_panel(report.layers, report.findings)]) + "</div>",
        f"<h3>Findings ({len(report.findings)})</h3>",
    ]
    if not report.findings:
        parts.append("<p>No findings: the mask reaches every layer that needs it.</p>")
    for f in report.findings:
        sev = esc(f.severity)
        where = f" [<code>{esc(f.layer)}</code>]" if f.layer else ""
        parts.append(
            f'<div class="finding {sev}" data-code="{esc(f.code)}">'
            f"<p><b>{esc(f.code)} {esc(f.name)}</b> ({sev}){where}</p>"
            f"<p>{_inline(f.message)}</p>"
            f'<p class="fix">fix: {_inline(f.fix)}</p></div>'
        )
    if report.notes:
        parts.append("<h3>Notes</h3><ul>" + "".join(f"<li>{_inline(n)}</li>" for n in report.notes) + "</ul>")
    parts.append("<details><summary>Layer table</summary>" + _layer_table(report.layers) + "</details>")
    fragment = '<div class="maskcheck-report">' + "".join(parts) + "</div>"
    if not full:
        return fragment
    title = esc(f"maskcheck report: {report.model_name}")
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"/>'
        f"<title>{title}</title></head><body>{fragment}</body></html>\n"
    )
