"""Text rendering of a report (tabulate)."""

from __future__ import annotations

import textwrap

from tabulate import tabulate

from maskcheck.render import columns
from maskcheck.report import Report


def layer_table(report: Report) -> str:
    # every cell is text: a layer named "1e3" stays "1e3" (numparse would print 1000.0)
    return tabulate(
        columns.rows(report.layers),
        headers=columns.headers(),
        colalign=columns.aligns(),
        tablefmt="simple",
        disable_numparse=True,
    )


def _columns_legend() -> str:
    return f"'mask in': {columns.title('mask in')}; 'graph mask' = {columns.title('graph mask')}."


def render_text(report: Report) -> str:
    out = [
        f"maskcheck report for model '{report.model_name}' ({report.meta.get('samples_traced', '?')} sequences traced)"
    ]
    out.append("")
    out.append(layer_table(report))
    out.append("")
    out.append(_columns_legend())
    not_run = report.meta.get("checks_not_run") or {}
    shown = {f"{code} could not run: {reason}" for code, reason in not_run.items()}
    for note in report.notes:
        if note in shown:  # listed in their own section below
            continue
        out.append(textwrap.fill(f"note: {note}", width=100, subsequent_indent="      "))
    out.append("")
    if not_run:
        out.append("Checks that could not run (their problems may be present but unreported):")
        for code, reason in not_run.items():
            out.append(
                textwrap.fill(
                    f"{code}: {reason}", width=100, initial_indent="    ", subsequent_indent="        "
                )
            )
        out.append("")
    if not report.findings:
        out.append(
            "No findings from the checks that ran."
            if not_run
            else "No findings: the mask reaches every layer that needs it."
        )
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
