"""MC104 reduction-over-padding: a pooling, Flatten, convolution or mean mixes padded steps into the result."""

from __future__ import annotations

from collections.abc import Iterable

from maskcheck.checks.base import Check, Invalid, Valid
from maskcheck.facts.context import AuditContext
from maskcheck.facts.flow import masked_samples, mixing_reason, time_len
from maskcheck.report import Finding, Severity

_REDUCER_FIX = {
    "GlobalMaxPooling1D": (
        "use `layers.GlobalAveragePooling1D()` (it reads the mask), or mask before the max: "
        "`x = keras.ops.where(mask[..., None], x, -1e9)`"
    ),
    "Flatten": "replace `Flatten()` with `layers.GlobalAveragePooling1D()` or an RNN such as `layers.LSTM(units)`",
}
_GENERIC_FIX = (
    "reduce with a mask-aware layer (`layers.GlobalAveragePooling1D()`, "
    "`layers.LSTM(units)`), or use the mask explicitly, e.g. "
    "`keras.ops.sum(x * mask[..., None], 1) / keras.ops.sum(mask, 1, keepdims=True)`"
)


class ReductionOverPadding(Check):
    """## What it does
    Finds a layer that reduces or mixes values across the masked time axis without reading the
    mask: GlobalMaxPooling1D, Flatten, MaxPooling1D/AveragePooling1D, Conv1D with a kernel or
    stride larger than 1, a `Lambda` or custom layer that takes a mean over time.
    (`GlobalAveragePooling1D` with the mask present is correct.)

    ## Why is this bad?
    The reduction sees the padded steps as data: a max over padding, a mean divided by the
    padded length, a convolution that smears padding into the last real steps. The result depends
    on how much padding each sample has.

    ## Known problems
    Poolings, Flatten and convolutions are recognised by class name (a convolution mixes steps
    when its kernel size, stride or dilation is above 1); any other layer or operation by shape:
    its output loses the time axis, or shortens it without a mask. A layer whose `call` takes a
    `mask` argument and received one is trusted to use it, even if it ignores it. Where the
    padding lies is not considered: `Conv1D(padding="causal")` over post-padded data only
    mixes real steps into padded ones, which is harmless, and is reported all the same; MC108
    tells whether the outputs really change. No named thresholds.

    ## Example
    ```python
    x = layers.Embedding(1000, 32, mask_zero=True)(ids)
    x = layers.GlobalMaxPooling1D()(x)   # ignores the mask
    ```

    ## Use instead
    ```python
    x = layers.Embedding(1000, 32, mask_zero=True)(ids)
    x = layers.GlobalAveragePooling1D()(x)   # averages real steps only
    ```
    """

    code = "MC104"
    name = "reduction-over-padding"
    severity = Severity.ERROR
    family = "propagation"
    summary = "a pooling, Flatten, convolution or mean mixes padded steps into the result"

    INVALID = (
        Invalid(
            "Masking -> GlobalMaxPooling1D", lambda t: t.propagation.reducer(t.layers.GlobalMaxPooling1D())
        ),
        Invalid(
            "Embedding(mask_zero) -> Flatten", lambda t: t.propagation.reducer(t.layers.Flatten(), ids=True)
        ),
        Invalid(
            "Masking -> Conv1D(kernel 3)",
            lambda t: t.propagation.reducer(t.layers.Conv1D(4, 3, padding="same")),
        ),
        Invalid(
            "Masking -> Lambda(mean over time)",
            lambda t: t.propagation.reducer(t.layers.Lambda(lambda x: t.ops.mean(x, axis=1))),
        ),
        Invalid(
            "explicit padding_mask input, GlobalMaxPooling1D over every step",
            lambda t: t.padding.ids_and_padding_mask(pool="max"),
        ),
    )
    VALID = (
        Valid(
            "Embedding(mask_zero) -> GlobalAveragePooling1D",
            lambda t: t.propagation.reducer(t.layers.GlobalAveragePooling1D(), ids=True),
        ),
        Valid("Masking -> LSTM (reads the mask)", lambda t: t.propagation.reducer(t.layers.LSTM(3))),
        Valid(
            "Masking -> Conv1D(kernel 1) keeps steps apart",
            lambda t: t.propagation.reducer(t.layers.Conv1D(4, 1)),
        ),
        Valid(
            "explicit padding_mask input, mean over the steps it marks real",
            lambda t: t.padding.ids_and_padding_mask(),
        ),
    )

    def run(self, ctx: AuditContext) -> Iterable[Finding]:
        for ev in ctx.events:
            if ev.is_op and not ev.has_input_mask:
                continue
            if not ev.any_mask_in:
                continue
            mask = ev.first_input_mask()
            t_len = time_len(mask)
            reason = mixing_reason(ev, t_len)
            if reason is None:
                continue
            yield self.finding(
                f"'{ev.path}': {reason}; the padded steps of {len(masked_samples(mask, 10**9))} "
                "sample(s) change its result.",
                _REDUCER_FIX.get(ev.class_name, _GENERIC_FIX),
                layer=ev.path,
                samples=masked_samples(mask),
            )
        yield from self._explicit(ctx)

    def _explicit(self, ctx: AuditContext) -> Iterable[Finding]:
        """Explicit padding masks (keras-hub's `padding_mask`): no Keras mask rides on the tensors,
        so the reduction is found by changing the ids where the mask says padding and looking for
        the first layer whose result changed."""
        if not ctx.options.perturb:
            return
        for m in ctx.explicit_masks:
            pads = ~m.real
            if not pads.any() or pads.all():
                continue
            res = ctx.explicit_probe(m)
            ev = res.first
            if ev is None:
                continue
            reason = mixing_reason(ev, pads.shape[1])
            if reason is None:
                continue
            yield self.finding(
                f"'{ev.path}': {reason}; changing the ids where '{m.name}' marks padding changes its "
                f"result, e.g. samples {res.samples[:8]}.",
                _REDUCER_FIX.get(ev.class_name, _GENERIC_FIX).replace("mask[", f"{m.name}["),
                layer=ev.path,
                samples=res.samples,
            )
