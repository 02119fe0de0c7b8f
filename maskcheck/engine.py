"""`maskcheck.audit`: trace the model on a bounded sample, run the checks, build the report."""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Callable, Iterable
from typing import Any, ParamSpec, TypeVar

import numpy as np

from maskcheck import bridge as kb
from maskcheck.bridge import jit
from maskcheck.bridge.graph import output_names
from maskcheck.budget import fit_to_budget
from maskcheck.checks.registry import all_checks
from maskcheck.data import DataSource, Progress, collect, front, input_specs
from maskcheck.errors import MaskcheckError
from maskcheck.facts.context import AuditContext, AuditOptions
from maskcheck.facts.flow import role_of, shape
from maskcheck.facts.mask_map import mask_map
from maskcheck.facts.ordering import root_cause_first
from maskcheck.facts.probe import leak_companion
from maskcheck.facts.targets import check_targets
from maskcheck.report import Finding, LayerTrace, Report, Severity
from maskcheck.settings import DEFAULT_TIME_BUDGET, Settings, flag, progress_enabled, strict_enabled
from maskcheck.settings import seed as seed_value
from maskcheck.settings import steps as steps_value
from maskcheck.synth import synthesize
from maskcheck.trace import mask_failure, run_traced, stateful_batch_size, symbolic_output_masks

P = ParamSpec("P")
R = TypeVar("R")


def _check_model(model: Any) -> None:
    if not kb.is_model(model):
        raise MaskcheckError(
            "model",
            "a Keras model (keras.Model or tf_keras.Model: Sequential, Functional or subclassed)",
            type(model).__name__,
        )
    if not model.built:
        raise MaskcheckError(
            "model",
            "a built model: give it an Input, or call it once on a batch before auditing",
            "an unbuilt model",
        )


def _snapshot(model: Any) -> list[tuple[Any, np.ndarray]]:
    """Values of the variables an inference call could move (RNN states, seed generators)."""
    snap = []
    for v in getattr(model, "non_trainable_variables", []):
        try:
            snap.append((v, np.array(kb.to_numpy(_value(v)))))
        except Exception:
            continue
    return snap


def _value(v: Any) -> Any:
    """A variable's value: a property in Keras 3, a method on a tf.Variable (tf_keras)."""
    return v.value() if callable(v.value) else v.value


def _restore(snap: list[tuple[Any, np.ndarray]]) -> None:
    for v, value in snap:
        try:
            if not np.array_equal(np.asarray(kb.to_numpy(_value(v))), value):
                v.assign(value)
        except Exception:
            continue


def _concrete(fn: Callable[P, R]) -> Callable[P, R]:
    """`fn` run under `jit.concrete()`: an audit started while JAX traces a model (from a layer's
    `call`) gets concrete values from its own passes."""

    @functools.wraps(fn)
    def wrapped(*args: P.args, **kwargs: P.kwargs) -> R:
        with jit.concrete():
            return fn(*args, **kwargs)

    return wrapped


@_concrete
def audit(
    model: Any,
    X: Any = None,
    y: Any = None,
    *,
    sample_weight: Any = None,
    max_samples: int = 256,
    time_budget: float | None = DEFAULT_TIME_BUDGET,
    steps: int | None = None,
    select: Iterable[str] | str | None = None,
    ignore: Iterable[str] | str | None = None,
    perturb: bool = True,
    seed: int = 0,
    strict: bool | None = None,
    progress: bool | None = None,
) -> Report:
    """Trace the masks of `model` on (a bounded sample of) `X` and run every check.

    X may be a NumPy array, a list/dict of arrays (multi-input), a `tf.data.Dataset`, a
    generator or a `keras.utils.PyDataset`; with `X=None` a post-padded probe batch is
    synthesized from the model's input spec. Only `max_samples` sequences go through the model,
    fewer when tracing them all would take the model part (the traced pass and the padding probes)
    over `time_budget` seconds (the report's notes and `meta["samples_traced"]` say how many);
    `time_budget=None` traces all `max_samples`.
    `steps`: read at most this many batches of a dataset, generator or PyDataset (as `fit`'s
    `steps_per_epoch`); a source of unknown length is read for at most 1,000 batches by default.
    String inputs go through the model's preprocessing layers (or a keras-hub task's preprocessor)
    first; the audit sees the ids they make.

    `seed` (an integer >= 0) drives the synthesized batch and the MC108 perturbation.
    `strict=True`: a check that crashes raises instead of becoming a line in `report.notes`
    (None: the default that `maskcheck.settings.strict()` sets, else False). `progress`: draw a
    `keras.utils.Progbar` on stderr while X is scanned (None: only when stderr is a terminal).
    """
    _check_model(model)
    settings = Settings().merge(
        {
            "max_samples": max_samples,
            "select": select,
            "ignore": ignore,
            "time_budget": "none" if time_budget is None else time_budget,  # None: no limit, not "unset"
        }
    )
    max_samples, budget = settings.max_samples, settings.time_budget
    perturb = flag(perturb, "perturb")
    seed = seed_value(seed)
    strict = strict_enabled(strict)
    show_progress = progress_enabled(progress)
    steps = steps_value(steps)
    user_model = model
    raw = front(model)
    model = raw.model if raw is not None else model
    specs = raw.specs() if raw is not None else input_specs(model)
    notes: list[str] = [raw.note] if raw is not None and (X is not None or not raw.needs_x) else []
    layouts: list[Any] = []
    if X is None:
        if y is not None or sample_weight is not None:
            raise MaskcheckError("X", "data whenever y or sample_weight is given", "None")
        sample = synthesize(model, specs, n=stateful_batch_size(model) or 8, seed=seed)
        notes.append(
            f"X was not given: a synthesized post-padded probe batch of {sample.xs[0].shape[0]} "
            "sequences was traced (padded with the Masking layer's mask_value, or id 0 for "
            "Embedding inputs). Data checks need your X."
        )
    else:
        n_outputs = len(getattr(model, "outputs", None) or [None])
        source = DataSource(
            X,
            y,
            sample_weight,
            specs,
            n_outputs=n_outputs,
            output_names=output_names(model),
            steps=steps,
            prepare=raw.prepare if raw else None,
        )
        from maskcheck.facts.layout import data_consumers

        consumers = data_consumers(model, source)
        sample = collect(source, max_samples, consumers, progress=show_progress)
        layouts = [c.layout for c in consumers if c.layout is not None]
        for lay in layouts:
            if lay.nonfinite:
                raise MaskcheckError(
                    "X" if len(layouts) == 1 else f"X[{lay.name!r}]",
                    "finite values (NaN is accepted only as padding that fills the sequence ends)",
                    f"NaN or Inf in {lay.nonfinite} sequences, e.g. samples {lay.nonfinite_idx[:5]}",
                )
        notes.extend(source.cast_notes())
        notes.extend(sample.notes)
        notes.extend(_clip_ids(sample, layouts))
    collected = int(sample.xs[0].shape[0])
    notes.extend(_fixed_batch(model, sample))
    snap = _snapshot(model)
    checks = [c for c in all_checks() if settings.runs(c.code)]
    bar = Progress(len(checks) + 1, show_progress)
    try:
        if not sample.synthesized:
            cut = fit_to_budget(model, sample, budget)
            if cut is not None:
                notes.append(cut)
            elif sample.total_seen > collected:
                notes.append(
                    f"data checks saw all {sample.total_seen} sequences; the model ran on the first "
                    f"{collected} (max_samples={max_samples})."
                )
        inputs = sample.model_inputs()
        companion = leak_companion(seed, model, inputs) if perturb and settings.runs("MC108") else None
        trace = run_traced(model, inputs, companion=companion)
        bar.step()
        if trace.error is not None and mask_failure(trace) is None:
            raise MaskcheckError(
                "model", "a model that runs on X (training=False)", f"it raised {_describe(trace.error)}"
            ) from None
        check_targets(model, trace, sample.y, sample.w, sample.w_out)
        ctx = AuditContext(
            model=model,
            inputs=sample.xs,
            input_names=sample.names,
            trace=trace,
            symbolic=symbolic_output_masks(model),
            y=sample.y,
            sample_weight=sample.w,
            sample_weights=sample.w_out,
            synthesized=sample.synthesized,
            options=AuditOptions(max_samples=max_samples, seed=seed, perturb=perturb),
            layouts=layouts,
            structure=sample.structure,
        )
        findings: list[Finding] = []
        for check_cls in checks:
            try:
                findings.extend(check_cls().run(ctx))
            except MaskcheckError:
                raise
            except Exception as exc:
                if strict:
                    raise
                ctx.could_not_run(check_cls.code, _describe(exc))
            bar.step()
        notes.extend(ctx.notes)
        if trace.not_compiled is not None and trace.error is None:  # it runs eagerly, not compiled
            notes.append(
                f"the traced pass ran eagerly, which is slower, because JAX could not compile it "
                f"({trace.not_compiled}); "
                "a `call` that uses Keras ops instead of NumPy on its tensors compiles."
            )
        for path, reason in trace.eager_loops.items():
            notes.append(
                f"the loop of {path} could not be compiled ({reason}), so it runs eagerly from "
                "now on: the audit is slower, its findings the same."
            )
        not_run = {code: _short(reason) for code, reason in ctx.not_run.items()}
        notes.extend(f"{code} could not run: {reason}" for code, reason in not_run.items())
        if strict and not_run:
            raise MaskcheckError(
                "model",
                "a model and loss every selected check can evaluate (strict=True)",
                "; ".join(f"{code} could not run: {reason}" for code, reason in not_run.items()),
            )
        rows = _layer_rows(ctx)
    finally:
        _restore(snap)
    order = {c.code: i for i, c in enumerate(all_checks())}
    findings.sort(key=lambda f: (-f.severity.rank, order.get(f.code, 999)))
    findings = root_cause_first(findings)
    package, version = kb.keras_package(model)
    meta = {
        "keras": version,
        "keras_package": package,
        "backend": kb.backend_name(),
        "samples_traced": int(sample.xs[0].shape[0]),
        "samples_seen": int(sample.total_seen),
        "time_budget": None if math.isinf(budget) else budget,
        "synthesized": sample.synthesized,
        "checks_not_run": not_run,
    }
    return Report(
        model_name=str(getattr(user_model, "name", "model")),
        layers=rows,
        findings=findings,
        notes=notes,
        meta=meta,
        mask_map=mask_map(ctx, strict=strict),
    )


def _clip_ids(sample: Any, layouts: list[Any]) -> list[str]:
    """Out-of-range ids would crash the Embedding lookup: trace a clipped copy (MC208 reports them)."""
    notes = []
    for lay in layouts:
        if lay.out_of_range and lay.input_dim:
            sample.xs[lay.index] = np.clip(sample.xs[lay.index], 0, lay.input_dim - 1)
            notes.append(
                f"ids of input '{lay.name}' outside [0, {lay.input_dim}) were clipped in the traced sample so the "
                "model could run (see MC208)."
            )
    return notes


def _fixed_batch(model: Any, sample: Any) -> list[str]:
    """A model with stateful RNN layers runs on batches of exactly its fixed size: trace the first
    batch of that size (the data checks saw everything)."""
    size = stateful_batch_size(model)
    n = int(sample.xs[0].shape[0])
    if size is None or n == size:
        return []
    if n < size:
        more_data = int(getattr(sample, "total_seen", n)) >= size  # max_samples kept fewer
        raise MaskcheckError(
            "max_samples" if more_data else "X",
            f"at least {size} sequences: the model's stateful RNN layers run on batches of exactly {size}",
            f"{n}" if more_data else f"{n} sequences",
        )
    sample.keep(size)
    return [
        f"the model has stateful RNN layers with a fixed batch size of {size}: the model ran on the "
        f"first {size} of {n} sequences (from fresh states, which were put back afterwards)."
    ]


def _describe(err: BaseException) -> str:
    """Keras' wrapped exception text, without colour codes and argument dumps."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(err))
    text = text.split("Arguments received")[0]
    text = " ".join(line.strip() for line in text.splitlines() if line.strip())
    return f"{type(err).__name__}: {text[:400]}"


def _short(reason: str) -> str:
    """A reason on one line, without colour codes, at most 300 characters."""
    text = " ".join(re.sub(r"\x1b\[[0-9;]*m", "", reason).split())
    return text if len(text) <= 300 else text[:297] + "..."


def _layer_rows(ctx: AuditContext) -> list[LayerTrace]:
    rows = []
    for ev in ctx.events:
        mask = (
            ev.first_input_mask() if ev.any_mask_in else (ev.output_masks[0] if ev.has_output_mask else None)
        )
        from maskcheck.trace import mask_share

        rows.append(
            LayerTrace(
                path=ev.path + (" (op)" if ev.is_op else ""),
                class_name=ev.class_name,
                input_shape=_fmt_shapes(ev.first_inputs or ev.inputs),
                output_shape=_fmt_shapes(ev.outputs),
                input_mask=ev.has_input_mask,
                output_mask=ev.has_output_mask,
                masked_share=None if (share := mask_share(mask)) is None else round(share, 4),
                supports_masking=bool(getattr(ev.layer, "supports_masking", False)),
                role=role_of(ev),
                received_mask=ev.has_received_mask,
                symbolic_output_mask=ctx.symbolic.get(id(ev.layer)),
                calls=ev.calls,
            )
        )
    return rows


def _fmt_shapes(tensors: list[Any]) -> str:
    shapes = [shape(t) for t in tensors]
    if not shapes:
        return ""
    text = ", ".join(str(s).replace("None", "?") for s in shapes[:3])
    return text + (", ..." if len(shapes) > 3 else "")


__all__ = ["Severity", "audit"]
