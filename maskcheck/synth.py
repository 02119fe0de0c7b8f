"""Padded sequences made up from a seed: the probe batch `audit(model)` traces when X is None,
and the data of the checks' own cases (re-exported by `maskcheck.testing`)."""

from __future__ import annotations

from typing import Any

import numpy as np

from maskcheck.bridge.graph import takes_dict
from maskcheck.bridge.kinds import source_kind
from maskcheck.data import InputSpec, Sample
from maskcheck.errors import MaskcheckError
from maskcheck.facts.layout import mask_sources


def lengths_for(n: int, t: int, seed: int = 0) -> np.ndarray:
    """Real lengths between t // 3 and t; the first sequence is unpadded."""
    rng = np.random.default_rng(seed)
    lengths = rng.integers(max(1, t // 3), t + 1, size=n)
    lengths[0] = t
    return lengths


def _pad(x: np.ndarray, lengths: np.ndarray, pad: float, side: str) -> np.ndarray:
    t = x.shape[1]
    for i, length in enumerate(lengths):
        if side == "post":
            x[i, length:] = pad
        else:
            x[i, : t - length] = pad
    return x


def padded_floats(
    n: int = 8,
    t: int = 10,
    f: int | tuple[int, ...] = 3,
    pad: float = 0.0,
    side: str = "post",
    seed: int = 0,
) -> np.ndarray:
    """Post- (or pre-) padded float sequences whose real steps never equal `pad`."""
    rng = np.random.default_rng(seed)
    feat = (f,) if isinstance(f, int) else tuple(f)
    x = (rng.random((n, t, *feat)) + 0.5).astype("float32")
    return _pad(x, lengths_for(n, t, seed), pad, side)


def padded_ids(n: int = 8, t: int = 10, vocab: int = 20, seed: int = 0, side: str = "post") -> np.ndarray:
    """Zero-padded token ids; real ids are 1..vocab-1."""
    rng = np.random.default_rng(seed)
    x = rng.integers(1, max(2, vocab), size=(n, t)).astype("int32")
    return _pad(x, lengths_for(n, t, seed), 0, side)


def step_labels(x: np.ndarray, n_classes: int = 2, seed: int = 0, pad_label: int = 0) -> np.ndarray:
    """Per-step integer labels 1..n_classes on real steps, `pad_label` on padded steps."""
    rng = np.random.default_rng(seed + 1)
    real = x.any(axis=-1) if x.ndim == 3 else x != 0
    y = rng.integers(1, n_classes + 1, size=real.shape).astype("int32")
    y[~real] = pad_label
    return y


def synthesize(
    model: Any, specs: list[InputSpec] | None, n: int = 8, t_default: int = 12, seed: int = 0
) -> Sample:
    """A post-padded probe batch built from the model's input spec (used when X is None)."""
    if not specs:
        raise MaskcheckError(
            "X",
            "data for a model without declared inputs (a subclassed model has no input spec to "
            "synthesize a probe batch from)",
            "None",
        )
    try:
        sources = mask_sources(model, through_any_layer=True)
    except Exception:
        sources = []
    xs: list[np.ndarray] = []
    real: np.ndarray | None = None  # the real steps of the first id input, shared by all inputs
    for i, spec in enumerate(specs):
        t = spec.shape[1] if len(spec.shape) > 1 and spec.shape[1] is not None else t_default
        consumer = sources[i] if i < len(sources) else None
        name = spec.name.lower()
        if len(spec.shape) == 2 and name.endswith("mask"):
            # An explicit padding mask (keras-hub's `padding_mask`): 1 where the ids are real.
            keep = real if real is not None and real.shape == (n, t) else padded_ids(n, t, seed=seed) != 0
            xs.append(keep.astype(spec.dtype if spec.dtype != "string" else "int32"))
        elif len(spec.shape) == 2 and "segment" in name:
            xs.append(np.zeros((n, t), dtype=spec.dtype))  # one segment
        elif len(spec.shape) == 2 and (
            (consumer is not None and source_kind(consumer) == "Embedding") or "int" in spec.dtype
        ):
            vocab = int(getattr(consumer, "input_dim", 10)) if consumer is not None else 10
            ids = padded_ids(n, t, vocab, seed=seed)
            xs.append(ids)
            real = ids != 0 if real is None else real
        else:
            feat = tuple(d if d is not None else 4 for d in spec.shape[2:])
            pad = float(getattr(consumer, "mask_value", 0.0)) if consumer is not None else 0.0
            xs.append(padded_floats(n, t, feat, pad=pad, seed=seed))
    structure = "dict" if takes_dict(model) else "single" if len(xs) == 1 else "list"
    return Sample(xs, None, None, structure, [s.name for s in specs], total_seen=n, synthesized=True)
