"""Ground truth for the zoo, decided WITHOUT maskcheck.

Change what the model sees at padded positions, keep everything that marks padding unchanged,
and compare what the model does at real positions:

* "ids": replace the token ids at padded positions with random real ids; an explicit
  `padding_mask` input is left as it is (the keras-hub convention).
* "row": replace the embedding row of the pad id (on the variables themselves, restored exactly
  afterwards). Used wherever the mask is derived from the ids (`mask_zero`, a `compute_mask`
  testing `ids != 0`), since changing the ids would change the mask.
* "append": append extra pad steps (the pad vector) to variable-length float inputs.

Then compare the outputs at real steps (whole outputs for pooled ones); where y is given and the
model is compiled, also compare `evaluate` losses with y perturbed at its padded steps. Tolerances
sit far above float noise (padding legitimately moves results by ~1e-6 through reduction order).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import keras
import numpy as np

from zoo.models import ZooCase

RTOL, ATOL = 1e-4, 1e-5


@dataclass(frozen=True)
class Verdict:
    verdict: str  # "correct" | "leaks"
    output_change: float  # max abs change of an output at real steps
    loss_change: float | None  # abs change of the evaluate loss when padded labels change

    def __str__(self) -> str:
        loss = "-" if self.loss_change is None else f"{self.loss_change:.2g}"
        return f"{self.verdict} (outputs {self.output_change:.2g}, loss {loss})"


def _flat(outputs: Any) -> list[np.ndarray]:
    return [np.asarray(keras.ops.convert_to_numpy(o)) for o in keras.tree.flatten(outputs)]


def _predict(model: Any, X: Any) -> list[np.ndarray]:
    return _flat(model(X, training=False))


def _items(X: Any) -> list[tuple[Any, np.ndarray]]:
    if isinstance(X, dict):
        return list(X.items())
    if isinstance(X, list | tuple):
        return list(enumerate(X))
    return [(None, X)]


def _rebuild(X: Any, new: dict[Any, np.ndarray]) -> Any:
    if isinstance(X, dict):
        return {k: new.get(k, v) for k, v in X.items()}
    if isinstance(X, list | tuple):
        return [new.get(i, v) for i, v in enumerate(X)]
    return new.get(None, X)


def _perturb_ids(case: ZooCase, rng: np.random.Generator) -> Any:
    new = {}
    for key, x in _items(case.X):
        if key in case.pads:
            x = x.copy()
            pad = case.pads[key]
            x[pad] = rng.integers(1, case.vocab, size=int(pad.sum()))
            new[key] = x
    return _rebuild(case.X, new)


def _append(case: ZooCase, k: int = 3) -> Any:
    new = {}
    for key, x in _items(case.X):
        if key in case.pads:
            pad_vec = np.zeros(x.shape[-1], dtype=x.dtype)
            pad_vec[case.pad_id] = x[case.pads[key]].max() if case.pads[key].any() else 0.0
            extra = np.broadcast_to(pad_vec, (x.shape[0], k, x.shape[-1]))
            new[key] = np.concatenate([x, extra], axis=1)
    return _rebuild(case.X, new)


def _max_change(
    ref: list[np.ndarray], got: list[np.ndarray], out_pad: list[np.ndarray | None]
) -> tuple[float, bool]:
    worst, leaks = 0.0, False
    for r, g, pad in zip(ref, got, out_pad or [None] * len(ref), strict=True):
        g = g[:, : r.shape[1]] if r.ndim >= 2 and g.ndim == r.ndim else g
        if pad is not None:
            real = ~pad
            r, g = r[real], g[real]
        diff = np.abs(r.astype("float64") - g.astype("float64"))
        if diff.size:
            worst = max(worst, float(diff.max()))
            leaks |= bool((diff > ATOL + RTOL * np.abs(r)).any())
    return worst, leaks


def _perturb_labels(case: ZooCase, rng: np.random.Generator) -> np.ndarray:
    y = np.array(case.y, copy=True)
    pad = case.y_pad
    assert pad is not None
    if y.ndim == pad.ndim + 1:  # one-hot
        cls = rng.integers(0, case.n_classes, size=int(pad.sum()))
        y[pad] = np.eye(case.n_classes, dtype=y.dtype)[cls]
    else:
        y[pad] = rng.integers(1, case.n_classes, size=int(pad.sum()))
    return y


def _loss(case: ZooCase, y: Any) -> float:
    sw = case.kwargs.get("sample_weight")
    n = len(y)
    out = case.model.evaluate(case.X, y, sample_weight=sw, batch_size=n, verbose=0, return_dict=True)
    return float(out["loss"])


def judge(case: ZooCase, seed: int = 0) -> Verdict:
    """Does what the model sees (or is scored on) at padded positions change its results?"""
    rng = np.random.default_rng(seed)
    ref = _predict(case.model, case.X)
    if case.method == "ids":
        got = _predict(case.model, _perturb_ids(case, rng))
    elif case.method == "append":
        got = _predict(case.model, _append(case))
    elif case.method == "row":
        assert case.rows is not None
        variables = case.rows(case.model)
        saved = [np.array(keras.ops.convert_to_numpy(v)) for v in variables]
        try:
            for v, s in zip(variables, saved, strict=True):
                new = s.copy()
                new[case.pad_id] = rng.normal(0.0, 3.0, size=s.shape[1:])
                v.assign(new)
            got = _predict(case.model, case.X)
        finally:
            for v, s in zip(variables, saved, strict=True):
                v.assign(s)
    else:
        raise ValueError(case.method)
    change, leaks = _max_change(ref, got, case.out_pad)

    loss_change = None
    if case.y is not None and case.y_pad is not None and getattr(case.model, "compiled", False):
        base = _loss(case, case.y)
        loss_change = abs(_loss(case, _perturb_labels(case, rng)) - base)
        leaks |= loss_change > ATOL + RTOL * abs(base)
    return Verdict("leaks" if leaks else "correct", change, loss_change)
