"""Root cause first: order the findings so that a cause leads and its consequences name it.

When one finding explains another (an Embedding without `mask_zero`, MC207, makes the loss count
padding, MC305), fixing the first makes the second go away, so the report leads with the cause
and the consequence says which finding explains it (`details["caused_by"]`). Run once by the
engine, after every check: the checks stay independent of each other.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from maskcheck.report import Finding

# cause -> the codes it explains. Acyclic; read "MC101 explains MC102" as "where both are
# reported, fixing MC101 is the way to make MC102 go away". MC307 is not listed as a
# consequence: a confusion-matrix metric counts padding whatever the mask does. Nor is MC104: a
# layer that mixes steps (Conv1D with kernel 3) leaks whether or not the mask reaches it.
EXPLAINS: dict[str, tuple[str, ...]] = {
    # the mask is lost on the way to the output
    "MC101": ("MC102", "MC106", "MC108", "MC305"),
    "MC103": ("MC102", "MC106", "MC108", "MC305"),
    "MC106": ("MC102", "MC108", "MC305"),
    "MC105": ("MC108",),
    "MC104": ("MC108",),
    "MC102": ("MC305",),
    # the mask does not cover the padding
    "MC201": ("MC202", "MC203", "MC305"),
    "MC202": ("MC305",),
    "MC203": ("MC305",),
    "MC207": ("MC108", "MC305"),
    "MC211": ("MC108", "MC305"),
    "MC212": ("MC108", "MC305"),
}

# Where several findings explain the same one, the most specific leads: the code a user fixes
# (MC207: add mask_zero) before a general statement about the same padding (MC202's "no layer
# makes a mask").
PREFERENCE = (
    "MC207",
    "MC212",
    "MC211",
    "MC101",
    "MC103",
    "MC106",
    "MC105",
    "MC104",
    "MC201",
    "MC203",
    "MC202",
    "MC102",
)


def _outputs(f: Finding) -> set[int] | None:
    """The model outputs a finding is about, where it says (None: not said)."""
    if isinstance(f.details.get("output"), int):
        return {int(f.details["output"])}
    outs = f.details.get("outputs")
    if isinstance(outs, (list, tuple)) and all(isinstance(o, int) for o in outs):
        return {int(o) for o in outs}
    return None


def _explains(cause: Finding, effect: Finding) -> bool:
    if effect.code not in EXPLAINS.get(cause.code, ()):
        return False
    a, b = _outputs(cause), _outputs(effect)
    return a is None or b is None or bool(a & b)


def root_cause_first(findings: Sequence[Finding]) -> list[Finding]:
    """`findings` (already in severity/check order) with every cause moved ahead of what it explains.

    Each finding explained by another is grouped with its root cause (followed through the most
    specific direct cause, see `PREFERENCE`, then the first in the given order, up to a finding
    that nothing explains); a group
    takes the place of its earliest member, the root leads it, and every other member gets
    `details["caused_by"]` = the root's code and a message that names it.
    """
    items = list(findings)
    n = len(items)
    direct: list[list[int]] = [
        [j for j in range(n) if j != i and _explains(items[j], items[i])] for i in range(n)
    ]

    def rank(j: int) -> tuple[int, int]:
        code = items[j].code
        return (PREFERENCE.index(code) if code in PREFERENCE else len(PREFERENCE), j)

    def root(i: int, seen: frozenset[int] = frozenset()) -> int:
        for j in sorted(direct[i], key=rank):
            if j not in seen:
                return root(j, seen | {i})
        return i

    roots = [root(i) for i in range(n)]
    groups: dict[int, list[int]] = {}
    for i in range(n):
        groups.setdefault(roots[i], []).append(i)
    out: list[Finding] = []
    for r, members in sorted(groups.items(), key=lambda kv: min(kv[1])):
        out.append(items[r])
        for i in members:
            if i != r:
                out.append(_caused_by(items[i], items[r]))
    return out


def _caused_by(effect: Finding, cause: Finding) -> Finding:
    where = f" in '{cause.layer}'" if cause.layer else ""
    return dataclasses.replace(
        effect,
        message=f"{effect.message} (A consequence of {cause.code} {cause.name}{where}: fix that first.)",
        details={**effect.details, "caused_by": cause.code},
    )
