"""MC212 explicit-mask-mismatch: an explicit padding-mask input disagrees with the ids it masks."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from maskcheck.checks.base import Invalid, Valid
from maskcheck.checks.padding._common import DataCheck, listed
from maskcheck.facts.context import AuditContext
from maskcheck.report import Finding, Severity


class ExplicitMaskMismatch(DataCheck):
    """## What it does
    Compares each explicit padding-mask input (keras-hub's `padding_mask`, an input named like
    `attention_mask` holding 0/1 per step) with the token ids it goes with: the mask must say 0
    on the runs of the pad id at the sequence ends and 1 on every real token.

    ## Why is this bad?
    The explicit mask is the model's only mask: attention, pooling and the loss trust it. A mask
    of ones (`np.ones_like(ids)`) lets every layer read the padding; a mask built with the wrong
    pad id, or shifted by one, hides real tokens or shows padding.

    ## Known problems
    The mask input is recognised by its 0/1 values and either its name (it contains "mask") or
    its use: some mask the model consumed (`attention_mask=`, `mask=`) holds exactly its values.
    An unnamed input of all ones matches any mask that masks nothing, so it is recognised by
    name only. It is paired with the ids input of the same shape (the one whose name shares its prefix, such as
    `encoder_padding_mask` and `encoder_token_ids`). A 1 on the first step of the padding is
    accepted: GPT-2's convention pads with the end token and marks the first one as real.
    Without detected padding in the ids (no runs of one id at the sequence ends) nothing is
    compared. No named thresholds.

    ## Example
    ```python
    model.fit({"token_ids": ids, "padding_mask": np.ones_like(ids)}, y)
    ```

    ## Use instead
    ```python
    model.fit({"token_ids": ids, "padding_mask": ids != pad_id}, y)
    ```
    """

    code = "MC212"
    name = "explicit-mask-mismatch"
    severity = Severity.ERROR
    summary = "an explicit padding-mask input disagrees with the ids it masks"

    INVALID = (
        Invalid("padding_mask = np.ones_like(ids)", lambda t: t.padding.ids_and_padding_mask(mask="ones")),
        Invalid(
            "padding_mask one step short (the last real token masked)",
            lambda t: t.padding.ids_and_padding_mask(mask="shifted"),
        ),
        Invalid(
            "an input named 'keep' consumed as attention_mask, one step short",
            lambda t: t.padding.ids_and_padding_mask(mask="shifted", mask_name="keep"),
        ),
    )
    VALID = (
        Valid("padding_mask = ids != 0", lambda t: t.padding.ids_and_padding_mask()),
        Valid(
            "padding_mask also marks the first pad (end) token, GPT-2's convention",
            lambda t: t.padding.ids_and_padding_mask(mask="first_pad"),
        ),
        Valid(
            "an input named 'keep' consumed as attention_mask, = ids != 0",
            lambda t: t.padding.ids_and_padding_mask(mask_name="keep"),
        ),
    )

    def run(self, ctx: AuditContext) -> Iterable[Finding]:
        layouts = {lay.index: lay for lay in self.layouts(ctx)}
        for m in ctx.explicit_masks:
            lay = layouts.get(m.ids_index)
            pads = ctx.padded_steps(lay) if lay is not None else None
            if lay is None or pads is None or not pads.any() or pads.shape != m.real.shape:
                continue
            first_pad = pads & ~np.roll(pads, 1, axis=1) if lay.pad_side == "post" else np.zeros_like(pads)
            shows_padding = (m.real & pads & ~first_pad).any(axis=1)
            hides_real = (~m.real & ~pads).any(axis=1)
            bad = shows_padding | hides_real
            if not bad.any():
                continue
            idx = [int(i) for i in np.flatnonzero(bad)]
            what = []
            if shows_padding.any():
                what.append(f"marks padded steps as real in {int(shows_padding.sum())} sequences")
            if hides_real.any():
                what.append(f"marks real tokens as padding in {int(hides_real.sum())} sequences")
            yield self.finding(
                f"input '{m.name}' {' and '.join(what)} of {len(bad)}: it disagrees with the padding of "
                f"'{m.ids_name}' (runs of id {lay.pad_repr().split()[0]} at the sequence ends), e.g. samples "
                f"{listed(idx[:8], len(idx))}.",
                f"build the mask from the ids: `padding_mask = (token_ids != {lay.pad_repr().split()[0]})`",
                samples=idx,
                count=len(idx),
            )
