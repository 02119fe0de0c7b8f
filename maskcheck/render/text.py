"""Text rendering of a report (tabulate)."""

from __future__ import annotations

import textwrap

from tabulate import tabulate

from maskcheck.report import Report


def _yes(flag: bool | None) -> str:
    if flag is None:
        return ""
    return "yes" if flag else "-"


def layer_table(report: Report) -> str:
    rows = []
    for t in report.layers:
        mask_in = "yes" if t.input_mask else ("call" if t.received_mask else "-")
        rows.append(
            [
                t.path,
                t.class_name,
                t.input_shape,
                t.output_shape,
                mask_in,
                _yes(t.output_mask),
                "" if t.masked_share is None else f"{t.masked_share:.0%}",
                _yes(t.supports_masking),
                str(t.role),
                _yes(t.symbolic_output_mask),
                t.calls if t.calls > 1 else "",
            ]
        )
    headers = [
        "layer",
        "class",
        "input",
        "output",
        "mask in",
        "mask out",
        "masked",
        "supports",
        "role",
        "graph mask",
        "calls",
    ]
    return tabulate(rows, headers=headers, tablefmt="simple")


def render_text(report: Report) -> str:
    out = [
        f"maskcheck report for model '{report.model_name}' ({report.meta.get('samples_traced', '?')} sequences traced)"
    ]
    out.append("")
    out.append(layer_table(report))
    out.append("")
    out.append(
        "'mask in': yes = on the input tensor, call = passed to call() only; 'graph mask' = the functional graph's symbolic mask."
    )
    for note in report.notes:
        out.append(textwrap.fill(f"note: {note}", width=100, subsequent_indent="      "))
    out.append("")
    if not report.findings:
        out.append("No findings: the mask reaches every layer that needs it.")
    for f in report.findings:
        where = f" [{f.layer}]" if f.layer else ""
        out.append(f"{f.code} {f.name} ({f.severity}){where}")
        out.append(textwrap.fill(f.message, width=100, initial_indent="    ", subsequent_indent="    "))
        out.append(
            textwrap.fill(f"fix: {f.fix}", width=100, initial_indent="    ", subsequent_indent="         ")
        )
    errors = sum(1 for f in report.findings if f.severity == "error")
    warnings = sum(1 for f in report.findings if f.severity == "warning")
    infos = len(report.findings) - errors - warnings
    out.append("")
    out.append(f"{errors} error(s), {warnings} warning(s), {infos} info")
    return "\n".join(out)
