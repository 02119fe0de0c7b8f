"""The HTML report: the summary, the mask map, the mask flow, the findings, the notes and the layer
table, in one self-contained page (`Report.to_html()`) or a fragment for Jupyter
(`Report._repr_html_`).

The page is an `xml.etree.ElementTree` tree, so the serializer escapes every name and message.
It is also well-formed XML: `ET.fromstring` reads it once the `<!DOCTYPE html>` line is dropped.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from maskcheck.render import columns
from maskcheck.render.elements import add_inline, add_text, element, sub, to_html
from maskcheck.render.svg import mask_flow_panel, mask_map_panel, samples_traced, svg
from maskcheck.report import Finding, Report

CSS = """
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
.maskcheck-report th.right, .maskcheck-report td.right { text-align: right; }
.maskcheck-report tr.drops td { background: #fde2e1; }
"""


def layer_table(report: Report) -> ET.Element:
    """The layer table, with the columns of the text report (`maskcheck.render.columns`)."""
    table = element("table")
    head = sub(sub(table, "thead"), "tr")
    for c in columns.LAYER_COLUMNS:
        sub(head, "th", c.header, title=c.title, class_=c.align if c.align != "left" else None)
    body = sub(table, "tbody")
    for t in report.layers:
        tr = sub(body, "tr", class_=str(t.role))
        for c in columns.LAYER_COLUMNS:
            sub(tr, "td", c.cell(t), class_=c.align if c.align != "left" else None)
    return table


def _finding(parent: ET.Element, f: Finding) -> None:
    box = sub(parent, "div", class_=f"finding {f.severity}", data_code=f.code)
    head = sub(box, "p")
    sub(head, "b", f"{f.code} {f.name}")
    add_text(head, f" ({f.severity})")
    if f.layer:
        add_text(head, " [")
        sub(head, "code", f.layer)
        add_text(head, "]")
    add_inline(sub(box, "p"), f.message)
    add_inline(sub(box, "p", "fix: ", class_="fix"), f.fix)


def report_element(report: Report) -> ET.Element:
    """The report as one `<div class="maskcheck-report">`, its style sheet inside."""
    root = element("div", class_="maskcheck-report")
    sub(root, "style", CSS)
    heading = sub(root, "h2", "maskcheck report for model ")
    sub(heading, "code", report.model_name)
    summary = sub(root, "p")
    if report.ok:
        sub(summary, "span", "ok", class_="status-ok")
    else:
        sub(summary, "span", "NOT ok (error findings)", class_="status-bad")
    meta = ", ".join(f"{k}: {v}" for k, v in report.meta.items())
    add_text(summary, f"; {len(report.findings)} finding(s). {meta}")
    sub(root, "h3", "Mask map")
    sub(root, "div", class_="picture").append(svg([mask_map_panel(report.mask_map, samples_traced(report))]))
    sub(root, "h3", "Mask flow")
    sub(root, "div", class_="picture").append(svg([mask_flow_panel(report.layers, report.findings)]))
    sub(root, "h3", f"Findings ({len(report.findings)})")
    if not report.findings:
        sub(root, "p", "No findings: the mask reaches every layer that needs it.")
    for f in report.findings:
        _finding(root, f)
    if report.notes:
        sub(root, "h3", "Notes")
        notes = sub(root, "ul")
        for note in report.notes:
            add_inline(sub(notes, "li"), note)
    details = sub(root, "details")
    sub(details, "summary", "Layer table")
    details.append(layer_table(report))
    return root


def render_html(report: Report, full: bool = True) -> str:
    """`Report.to_html()`: a self-contained page; `full=False` gives the fragment for Jupyter."""
    fragment = report_element(report)
    if not full:
        return to_html(fragment)
    page = element("html", lang="en")
    head = sub(page, "head")
    sub(head, "meta", charset="utf-8")
    sub(head, "title", f"maskcheck report: {report.model_name}")
    sub(page, "body").append(fragment)
    return "<!DOCTYPE html>\n" + to_html(page) + "\n"
