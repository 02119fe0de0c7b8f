"""MC105 mask-misaligned: the mask length no longer matches the tensor's time axis."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from maskcheck.checks.base import CaseInput, Check, Invalid, Kit, Valid
from maskcheck.facts.context import AuditContext
from maskcheck.facts.flow import shape
from maskcheck.report import Finding, Severity
from maskcheck.trace import is_step_mask, mask_failure, mask_fits

# How much of the forward pass's error message is quoted (its first line, cut to this length).
_ERROR_CHARS = 300


def _downsampling(t: Kit, layer: Any) -> CaseInput:
    model = t.keras.Sequential(
        [t.seq_input(), t.layers.Masking(0.0), layer, t.layers.LSTM(3, return_sequences=True)]
    )
    return CaseInput(model, t.padded_floats())


def _video(t: Kit, per_frame: bool) -> CaseInput:
    """Video (N, T, H, W, C) into an LSTM: Masking on the frames makes a (N, T, H, W) mask that
    fits no step once the frames are flattened; Masking over the flattened frames makes (N, T)."""
    td = t.layers.TimeDistributed
    front = (
        [td(t.layers.Flatten()), t.layers.Masking(0.0), td(t.layers.Reshape((4, 4, 1)))]
        if per_frame
        else [t.layers.Masking(0.0)]
    )
    layers = [td(t.layers.Conv2D(2, 3, padding="same")), td(t.layers.Flatten()), t.layers.LSTM(3)]
    model = t.keras.Sequential([t.keras.Input((6, 4, 4, 1)), *front, *layers])
    return CaseInput(model, t.padded_floats(n=8, t=6, f=(4, 4, 1)))


class MaskMisaligned(Check):
    """## What it does
    Finds a mask whose length no longer matches the time axis of the tensor it rides on, or of
    the input it is passed to: a custom length-changing layer that declares `supports_masking`,
    a concatenation along time, a wrapper given a mask of the wrong length.

    ## Why is this bad?
    Keras either crashes later with a shape error far from the cause, or broadcasts the mask
    onto the wrong steps so that real steps are dropped and padded ones kept.

    ## Known problems
    Only axis 1 is compared: the mask's second axis with the tensor's, for every output mask
    and for the first mask a layer received against its first input; axes of unknown length
    are skipped. An output mask with more than two axes and another rank than its tensor
    (Masking over video frames, then Flatten) must also match the tensor's axes after time, or
    it is reported; one with the tensor's rank is taken for an attention mask. Each mask is reported once, and each layer at most once. A failed forward pass
    is blamed on the mask only when a call the error passed through was given a mask whose shape
    does not start its tensor's shape (any other model error is raised as a `MaskcheckError`
    with the model's own message); only the first line of the error's own text (at most 300
    characters) is quoted. No named thresholds.

    ## Example
    ```python
    class Downsample(layers.Layer):
        def __init__(self):
            super().__init__()
            self.supports_masking = True     # passes the length-20 mask on unchanged
        def call(self, x):
            return x[:, ::2]                 # length 10
    ```

    ## Use instead
    ```python
    class Downsample(layers.Layer):
        def call(self, x):
            return x[:, ::2]
        def compute_mask(self, x, mask=None):
            return None if mask is None else mask[:, ::2]
    ```
    """

    code = "MC105"
    name = "mask-misaligned"
    severity = Severity.ERROR
    family = "propagation"
    summary = "the mask length no longer matches the tensor's time axis"

    INVALID = (
        Invalid(
            "custom downsampling layer that passes the mask on unchanged",
            lambda t: _downsampling(t, t.custom_layers.Downsample()),
        ),
        Invalid("Masking on video frames, then the frames flattened", lambda t: _video(t, per_frame=False)),
    )
    VALID = (
        Valid("Masking over the flattened video frames", lambda t: _video(t, per_frame=True)),
        Valid(
            "the same layer resizing its mask in compute_mask",
            lambda t: _downsampling(t, t.custom_layers.DownsampleWithMask()),
        ),
        Valid("Masking -> BiLSTM -> TimeDistributed tagger", lambda t: t.propagation.tagger()),
        Valid(
            "MultiHeadAttention with a (B, 1, T) attention_mask and no step mask",
            lambda t: t.propagation.attention_mask_only(),
        ),
        Valid(
            "Softmax over (B, T, T) scores given the (B, T, T) pair mask",
            lambda t: t.propagation.softmax_with_pair_mask(),
        ),
    )

    def run(self, ctx: AuditContext) -> Iterable[Finding]:
        failure = mask_failure(ctx.trace)
        if failure is not None:
            ev, sm, st = failure
            text = re.sub(r"\x1b\[[0-9;]*m", "", str(ctx.trace.error)).split("Arguments received")[0]
            first = [
                line.strip()
                for line in text.splitlines()
                if line.strip() and not line.strip().startswith("Exception encountered when calling")
            ]
            yield self.finding(
                f"the forward pass failed at '{ev.path}' ({ev.class_name}), which was given a mask of "
                f"shape {sm} for a tensor of shape {st}: {(first or [''])[0][:_ERROR_CHARS]}",
                "make the mask's (batch, time) match the input's first two dimensions: resize it in the "
                "`compute_mask` of the layer that changed the steps, or make a (batch, time) mask per "
                "step (e.g. Masking over the flattened frames) instead of one per feature",
                layer=ev.path,
                mask_shape=str(sm),
                tensor_shape=str(st),
            )
        reported: set[int] = set()
        for ev in ctx.events:
            if failure is not None and ev is failure[0]:
                continue  # reported above
            pairs: list[tuple[Any, Any, str]] = []
            for o, m in zip(ev.outputs, ev.output_masks, strict=False):
                if m is None or id(m) in reported:
                    continue
                if is_step_mask(m, o):
                    pairs.append((o, m, "output"))
                elif 2 < len(shape(m)) != len(shape(o)) and not mask_fits(shape(m), shape(o)):
                    # a mask per feature position (Masking over frames) on a tensor whose features
                    # were reshaped: Keras cannot apply it to the steps (a loss fails on it)
                    reported.add(id(m))
                    yield self.finding(
                        f"'{ev.path}' ({ev.class_name}): the output mask has shape {shape(m)} but the "
                        f"tensor has shape {shape(o)}; it no longer marks the tensor's steps.",
                        "make the mask per step, (batch, time): e.g. Masking over the flattened frames "
                        "(`TimeDistributed(Flatten())` before `Masking`), or a `compute_mask` that "
                        "reduces the mask over every axis after time",
                        layer=ev.path,
                        mask_shape=str(shape(m)),
                        tensor_shape=str(shape(o)),
                    )
            if ev.first_inputs:
                for m in ev.received_masks[:1]:
                    pairs.append((ev.first_inputs[0], m, "received"))
            for t, m, kind in pairs:
                st, sm = shape(t), shape(m)
                if id(m) in reported:
                    continue
                if len(st) >= 2 and len(sm) >= 2 and None not in (st[1], sm[1]) and st[1] != sm[1]:
                    reported.add(id(m))
                    yield self.finding(
                        f"'{ev.path}' ({ev.class_name}): the {kind} mask has {sm[1]} steps but the "
                        f"tensor has {st[1]} (shapes {sm} vs {st}).",
                        f"implement `compute_mask` in {ev.class_name} so the mask is resized with the "
                        "tensor (e.g. `mask[:, ::2]`), or return `None` and re-create the mask later",
                        layer=ev.path,
                        mask_steps=sm[1],
                        tensor_steps=st[1],
                    )
                    break
