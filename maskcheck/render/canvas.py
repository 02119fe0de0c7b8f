"""SVG drawing primitives: panels stacked into one document, text and its width."""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass, field

from maskcheck.render.elements import element, num, sub

SVG_NS = "http://www.w3.org/2000/svg"
FONT = "font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace"
FONT_SIZE = 12  # px; a `style` sets other sizes
# SVG cannot measure text, yet a layout must know where a text ends to place what follows it.
# All text is monospace, and a monospace glyph is 3/5 em wide (Menlo, Consolas, DejaVu Sans Mono).
GLYPH_EM = 3 / 5

INK = "#222222"
MUTED = "#555555"


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


def text(parent: ET.Element, x: float, y: float, content: str, **attrs: object) -> ET.Element:
    return sub(parent, "text", content, x=float(x), y=float(y), **attrs)


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
