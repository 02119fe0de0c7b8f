"""Building SVG and HTML as `xml.etree.ElementTree` trees, so escaping is the serializer's job.

`sub(parent, "rect", x=1.0, class_="drop", data_state=2)` writes `<rect x="1" class="drop"
data-state="2"/>`: a trailing `_` is dropped from a keyword and other `_` become `-`, floats
get at most one decimal, and `None` leaves the attribute out.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

# XML 1.0 cannot carry these at all, not even escaped, so they are dropped
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def num(value: float) -> str:
    """A coordinate: at most one decimal, no trailing zeros."""
    return f"{value:.1f}".rstrip("0").rstrip(".")


def clean(value: object) -> str:
    """Any value as XML text: floats as `num`, control characters dropped."""
    if isinstance(value, float):
        return num(value)
    if isinstance(value, int):  # IntEnum members too: their number, not their name
        return str(int(value))
    return _CONTROL.sub("", str(value))


def _attributes(attrs: dict[str, object]) -> dict[str, str]:
    return {
        key.rstrip("_").replace("_", "-"): clean(value) for key, value in attrs.items() if value is not None
    }


def element(tag: str, text: object = None, /, **attrs: object) -> ET.Element:
    el = ET.Element(tag, _attributes(attrs))
    if text is not None:
        el.text = clean(text)
    return el


def sub(parent: ET.Element, tag: str, text: object = None, /, **attrs: object) -> ET.Element:
    """A new last child of `parent` (see the module docstring for the attributes)."""
    el = element(tag, text, **attrs)
    parent.append(el)
    return el


def add_text(parent: ET.Element, text: str) -> None:
    """Append text after the last child of `parent` (ElementTree keeps it as that child's tail)."""
    text = clean(text)
    if len(parent):
        last = parent[-1]
        last.tail = (last.tail or "") + text
    else:
        parent.text = (parent.text or "") + text


def add_inline(parent: ET.Element, text: str) -> None:
    """Append `text`, with its `backticked` spans as <code> elements."""
    for i, part in enumerate(str(text).split("`")):
        if i % 2:
            sub(parent, "code", part)
        else:
            add_text(parent, part)


def to_xml(root: ET.Element) -> str:
    """SVG: XML, empty elements as `<rect ... />`."""
    return ET.tostring(root, encoding="unicode")


def to_html(root: ET.Element) -> str:
    """HTML that is also well-formed XML. Every element gets an end tag, because an HTML parser
    reads `<td />` or `<code />` as an opening tag only; HTML parsers skip the end tag of the one
    void element used (`<meta>`), and inside `<svg>` both forms mean the same."""
    return ET.tostring(root, encoding="unicode", short_empty_elements=False)
