"""The layer table's columns: one spec for the text report (tabulate) and the HTML page."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Literal, NamedTuple

from maskcheck.report import LayerTrace

Align = Literal["left", "right"]


class Column(NamedTuple):
    header: str
    cell: Callable[[LayerTrace], str]  # the cell of a layer row, as text
    title: str  # what the column means (the legend under the text table, a tooltip on the page)
    align: Align = "left"


def _flag(flag: bool | None) -> str:
    if flag is None:
        return ""
    return "yes" if flag else "-"


def _mask_in(t: LayerTrace) -> str:
    if t.input_mask:
        return "yes"
    return "call" if t.received_mask else "-"


LAYER_COLUMNS: tuple[Column, ...] = (
    Column("layer", lambda t: t.path, "the layer call, by its path in the model"),
    Column("class", lambda t: t.class_name, "the layer's class"),
    Column("input", lambda t: t.input_shape, "the shape of the input"),
    Column("output", lambda t: t.output_shape, "the shape of the output"),
    Column("mask in", _mask_in, "yes = on the input tensor, call = passed to call() only"),
    Column("mask out", lambda t: _flag(t.output_mask), "a mask on the output tensor"),
    Column(
        "masked",
        lambda t: "" if t.masked_share is None else f"{t.masked_share:.0%}",
        "the share of masked steps in the mask that came in",
    ),
    Column("supports", lambda t: _flag(t.supports_masking), "the layer's supports_masking"),
    Column("role", lambda t: str(t.role), "what the layer does with the mask"),
    Column("graph mask", lambda t: _flag(t.symbolic_output_mask), "the functional graph's symbolic mask"),
    Column(
        "calls",
        lambda t: str(t.calls) if t.calls > 1 else "",
        "how often the layer was called, if more than once",
        "right",
    ),
)


def headers() -> list[str]:
    return [c.header for c in LAYER_COLUMNS]


def aligns() -> list[Align]:
    return [c.align for c in LAYER_COLUMNS]


def cells(layer: LayerTrace) -> list[str]:
    return [c.cell(layer) for c in LAYER_COLUMNS]


def rows(layers: Sequence[LayerTrace]) -> list[list[str]]:
    return [cells(t) for t in layers]


def title(header: str) -> str:
    """What the column with this header means."""
    return next(c.title for c in LAYER_COLUMNS if c.header == header)
