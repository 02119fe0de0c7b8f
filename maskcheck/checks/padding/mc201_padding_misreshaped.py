"""MC201 padding-misreshaped: padding scattered inside steps, the array was reshaped instead of transposed."""

from __future__ import annotations

from collections.abc import Iterable

from maskcheck.checks.base import Invalid, Valid
from maskcheck.checks.padding._common import DataCheck, listed, where
from maskcheck.facts.context import AuditContext
from maskcheck.report import Finding, Severity


class PaddingMisreshaped(DataCheck):
    """## What it does
    Finds padding scattered inside timesteps in a pattern that an axis swap makes clean: the
    sequences were built as (samples, features, time), padded along time, and then reshaped
    to (samples, time, features). Some steps end up part pad, part data; only a few happen to be
    all pad. It names the transform that fixes the layout and how many steps the mask covers now
    and after the fix.

    ## Why is this bad?
    `Masking` only masks steps whose features *all* equal `mask_value`. After the wrong reshape
    almost no step is all pad, so the real padding is fed to the model as data, and the values
    of every step are a mix of different timesteps.

    ## Known problems
    The layout pass (`maskcheck/facts/layout.py`) decides, on the first batch of X only and on
    at most 512 of its sequences with part-pad steps. It tries the swap when at least
    `TRANSFORM_MIN_PARTIAL` (5%) of the sequences have steps that are part pad, and accepts a
    reading as (features, time) when at least `TRANSFORM_NO_PARTIAL` (90%) of them then have no
    part-pad step and `TRANSFORM_CLEAN` (80%) have one block of padding at an end. The pad value
    must be the same in every feature (0 when no pad vector was found). A plain axis swap is only
    tried when time and features have the same length. Data whose real values often equal the
    pad value (counts, one-hot features) can look scattered, but then read as (features, time)
    rarely look clean. No thresholds of its own.

    ## Example
    ```python
    X = X_ft.reshape(-1, 20, 5)          # X_ft is (samples, 5 features, 20 steps)
    ```

    ## Use instead
    ```python
    X = X_ft.transpose(0, 2, 1)          # or np.swapaxes(X_ft, 1, 2)
    ```
    """

    code = "MC201"
    name = "padding-misreshaped"
    severity = Severity.ERROR
    summary = "padding scattered inside steps: the array was reshaped instead of transposed"

    INVALID = (
        Invalid(
            "the seed: (features, time) batches reshaped to (time, features)",
            lambda t: t.padding.seed_case(False),
        ),
    )
    VALID = (
        Valid("the same data transposed correctly", lambda t: t.padding.seed_case(True)),
        Valid(
            "ReLU-like features with sparse zero entries, no padding",
            lambda t: t.padding.tagger_on(t.padding.relu_like()),
        ),
        Valid("one-hot features, no padding", lambda t: t.padding.tagger_on(t.padding.one_hot())),
    )

    def run(self, ctx: AuditContext) -> Iterable[Finding]:
        for lay in self.layouts(ctx):
            if lay.transform is None or lay.after_fix is None:
                continue
            st = lay.by_mask or lay.by_pad
            assert st is not None
            t, f = lay.shape[0], lay.shape[1]
            now, after = st.full_steps, lay.after_fix.full_steps
            if lay.transform == "reshape":
                fix = (
                    f"build the array with a transpose, not a reshape: `X = X_ft.transpose(0, 2, 1)` "
                    f"(or `np.swapaxes(X_ft, 1, 2)`) where X_ft is (samples, {f}, {t}); for the array "
                    f"you passed: `X = X.reshape(-1, {f}, {t}).transpose(0, 2, 1)`"
                )
            else:
                fix = "swap the time and feature axes: `X = X.transpose(0, 2, 1)` (or `np.swapaxes(X, 1, 2)`)"
            yield self.finding(
                f"{where(lay, self.multi(ctx))}: {st.partial_samples} of {lay.samples} sequences have steps that "
                f"are part padding, part data ({st.partial_steps} steps), e.g. samples "
                f"{listed(st.partial_idx[:8], st.partial_samples)}. Read as (features, time) the padding "
                f"becomes a clean block at the sequence ends in {lay.transform_clean:.0%} of them. "
                f"The mask covers {now} of {st.steps} steps now and would cover {after} after the fix.",
                fix,
                layer=lay.mask_source_name,
                samples=st.partial_idx,
                masked_steps_now=now,
                masked_steps_after_fix=after,
                transform=lay.transform,
            )
