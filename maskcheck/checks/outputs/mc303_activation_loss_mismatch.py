"""MC303 activation-loss-mismatch: the final activation does not match the loss."""

from __future__ import annotations

from collections.abc import Iterable

from maskcheck.checks.base import Invalid, Valid
from maskcheck.checks.outputs._common import OutputCheck
from maskcheck.facts.context import AuditContext
from maskcheck.report import Finding, Severity


class ActivationLossMismatch(OutputCheck):
    """## What it does
    Reads each output's final activation (a Dense activation, a separate Activation/Softmax
    layer, the layer inside TimeDistributed) and the compiled loss (string, function or `Loss`
    object, with `from_logits`). Fires on: sigmoid or linear with (sparse_)categorical
    cross-entropy without `from_logits=True`; softmax with `from_logits=True`; softmax with
    binary cross-entropy on more than one unit.

    ## Why is this bad?
    The loss interprets the outputs as something they are not; gradients are wrong and the model
    trains slowly or to a degenerate solution.

    ## Known problems
    The activation is read from the layer that produced the output (through wrappers and nested
    models) by its `activation` attribute; an activation applied by an operation or inside a
    custom layer's `call` is not seen, and such a head counts as linear. The loss kind is
    recognised by name (sparse categorical, categorical, binary or binary focal
    cross-entropy); any other loss, including a custom one, is not judged. The suggested number
    of units counts the real classes when y shows a padding label of its own. No named
    thresholds.

    ## Example
    ```python
    layers.Dense(3, activation="sigmoid")
    model.compile(loss="sparse_categorical_crossentropy")
    ```

    ## Use instead
    ```python
    layers.Dense(2, activation="softmax")
    model.compile(loss="sparse_categorical_crossentropy")
    ```
    """

    code = "MC303"
    name = "activation-loss-mismatch"
    severity = Severity.ERROR
    summary = "the final activation does not match the loss (sigmoid + categorical CE, ...)"

    INVALID = (
        Invalid(
            "sigmoid head with sparse categorical cross-entropy",
            lambda t: t.outputs.labelled(t.outputs.tagger(units=3, activation="sigmoid")),
        ),
        Invalid(
            "softmax head with from_logits=True",
            lambda t: t.outputs.labelled(
                t.outputs.tagger(units=3, loss=t.keras.losses.SparseCategoricalCrossentropy(from_logits=True))
            ),
        ),
        Invalid(
            "softmax over 3 units with binary cross-entropy",
            lambda t: t.outputs.one_hot(
                t.outputs.labelled(t.outputs.tagger(units=3, loss="binary_crossentropy")), 3
            ),
        ),
        Invalid(
            "separate Activation('sigmoid') layer, loss given as a function",
            lambda t: t.outputs.labelled(t.outputs.separate_activation()),
        ),
    )
    VALID = (
        Valid(
            "softmax head with sparse categorical cross-entropy",
            lambda t: t.outputs.labelled(t.outputs.tagger(units=3)),
        ),
        Valid(
            "linear head with from_logits=True",
            lambda t: t.outputs.labelled(
                t.outputs.tagger(
                    units=3,
                    activation="linear",
                    loss=t.keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                )
            ),
        ),
    )

    def run(self, ctx: AuditContext) -> Iterable[Finding]:
        for i in self.outputs(ctx):
            out = ctx.output(i)
            head, info = out.head, out.loss
            if head is None or info is None:
                continue
            act, units = head.activation, head.units
            problem = fix = None
            lab = out.labels
            n_real = (
                len(lab.real_classes) if lab is not None and lab.pad_label not in lab.real_classes else None
            )
            if (
                info.kind in ("sparse_categorical", "categorical")
                and act in ("sigmoid", "linear")
                and not info.from_logits
            ):
                problem = f"a {act} output with {info.label} (from_logits=False) is read as probabilities that sum to 1"
                n = n_real or max(units, 2)
                fix = (
                    f'`Dense({n}, activation="softmax")`, or keep the {act} outputs as logits: '
                    f"`keras.losses.{'Sparse' if info.kind == 'sparse_categorical' else ''}CategoricalCrossentropy(from_logits=True)`"
                    if act == "linear"
                    else f'`Dense({n}, activation="softmax")` (one unit per real class)'
                )
            elif (
                info.kind in ("sparse_categorical", "categorical", "binary")
                and act == "softmax"
                and info.from_logits
            ):
                problem = f"a softmax output with {info.label}(from_logits=True) applies softmax twice"
                fix = "drop `from_logits=True`, or make the last layer linear (`activation=None`)"
            elif info.kind == "binary" and act == "softmax" and units > 1:
                problem = f"a softmax over {units} units with binary cross-entropy couples independent labels"
                fix = (
                    f'`Dense({units}, activation="sigmoid")` for multi-label targets, or '
                    '`loss="sparse_categorical_crossentropy"` for one class per step'
                )
            if problem is None:
                continue
            yield self.finding(
                f"{out.label} ('{head.path}', {units} units): {problem}.",
                fix or "",
                layer=head.path,
                activation=act,
                loss=info.label,
            )
