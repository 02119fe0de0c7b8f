"""MC306 labels-misaligned: the padded positions of y do not coincide with the padded steps of X."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from maskcheck.checks.base import Invalid, Threshold, Valid
from maskcheck.checks.outputs._common import OutputCheck
from maskcheck.facts.context import AuditContext
from maskcheck.facts.steps import detect_pad, end_padding
from maskcheck.report import Finding, Severity


class LabelsMisaligned(OutputCheck):
    """## What it does
    Compares the padded positions of y with the padded steps of X, sample by sample.

    ## Why is this bad?
    If labels were padded on the other side (or truncated differently) every real step is
    trained against the label of another step.

    ## Known problems
    X's padded steps are those the mask the output carries switches off, else the zero-weight
    steps of a per-step `sample_weight`, else those masked off by the mask sources its steps come
    from (traced back through tensors with its time axis), when they agree; an output whose steps
    come from an input no mask source reads borrows no other input's mask. Without any of them,
    or when X's own layout is wrong (MC201), nothing is compared. With teacher forcing (y is
    the decoder input shifted by one) y holds the padding label one step before the mask ends;
    that step is real and y is aligned. y's
    padding is the label filling one end of y; a real label equal to the padding label next to
    the padding is taken as padding, so only y-padding outside X's padding, and X-padding where
    y holds another label, count. Named thresholds: `ALIGNED_SHARE` (the share of X's padded
    steps holding one label for y to count as aligned) and `MIN_MISALIGNED_SHARE` (the share of
    padded samples that must differ).

    ## Example
    ```python
    X = pad_sequences(x_seqs, padding="post", dtype="float32")
    y = pad_sequences(y_seqs)                 # padding="pre" by default
    ```

    ## Use instead
    ```python
    y = pad_sequences(y_seqs, padding="post")
    ```
    """

    code = "MC306"
    name = "labels-misaligned"
    severity = Severity.ERROR
    summary = "the padded positions of y do not coincide with the padded steps of X"

    ALIGNED_SHARE = Threshold(
        0.9,
        "Share of X's padded steps at which y holds one label for y to count as aligned. Lower calls "
        "misaligned labels aligned when padding is long; higher looks for misalignment in y with "
        "noise at padded steps.",
    )
    MIN_MISALIGNED_SHARE = Threshold(
        0.1,
        "Share of padded samples whose y padding must differ from X's (at least one). Lower reports a "
        "few odd samples; higher misses misalignment limited to some of the data.",
    )

    INVALID = (
        Invalid(
            "y pre-padded, X post-padded",
            lambda t: t.outputs.labelled(t.outputs.tagger(units=3), y_side="pre"),
        ),
    )
    VALID = (
        Valid("y and X post-padded", lambda t: t.outputs.labelled(t.outputs.tagger(units=3))),
        Valid(
            "encoder-decoder of one length: y shifted by one step (teacher forcing)",
            lambda t: t.outputs.teacher_forced_seq2seq(),
        ),
        Valid(
            "encoder-decoder of one length, decoder unmasked: the encoder's mask is not the output's",
            lambda t: t.outputs.teacher_forced_seq2seq(decoder_masked=False),
        ),
    )

    def run(self, ctx: AuditContext) -> Iterable[Finding]:
        if ctx.y is None or any(lay.transform for lay in ctx.layouts):
            return  # without y nothing to compare; with MC201 X's layout itself is wrong
        for i in self.outputs(ctx):
            out = ctx.output(i)
            if out.head is None:
                continue
            ids = out.label_ids
            x_pad = out.step_padded
            if ids is None or x_pad is None or ids.shape != x_pad.shape or not x_pad.any():
                continue
            at_pad = np.unique(ids[x_pad], return_counts=True)[1]
            if at_pad.max() / at_pad.sum() >= self.ALIGNED_SHARE:
                continue  # y holds one label wherever X is padded: aligned
            vec, side, _ = detect_pad(ids.astype("float64"))
            if vec is None or side is None:
                continue
            p = int(np.asarray(vec).ravel()[0])
            y_pad = end_padding(ids == p, side)
            # real labels equal to the pad label may extend y's run: only y-padding outside X's padding counts
            differs = (y_pad & ~x_pad).any(axis=1) | (x_pad & ~y_pad & (ids != p)).any(axis=1)
            padded_samples = int((x_pad.any(axis=1) | y_pad.any(axis=1)).sum())
            if not padded_samples or differs.sum() < max(1, self.MIN_MISALIGNED_SHARE * padded_samples):
                continue
            bad = [int(v) for v in np.flatnonzero(differs)[:10]]
            yield self.finding(
                f"{out.label}: in {int(differs.sum())} of {padded_samples} padded samples (e.g. {bad}) the "
                f"padding of y ({side}-padded with {p}) is not where X is padded (the mask).",
                'pad X and y the same way: `pad_sequences(y_seqs, padding="post", maxlen=T)` like X',
                samples=bad,
            )
