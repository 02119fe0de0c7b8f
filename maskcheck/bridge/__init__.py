"""The one package that touches Keras internals: the mask riding on a tensor, layer and
operation base classes, loss and metric construction as `compile` does it, model structure
(`maskcheck.bridge.graph`), layer kinds (`maskcheck.bridge.kinds`) and the instrumented window
(`maskcheck.bridge.patch`). Everything else in maskcheck uses public Keras API or this package."""

from __future__ import annotations

import contextlib
import sys
from typing import Any

import keras
import numpy as np
from keras.src.backend import get_keras_mask as _get_keras_mask
from keras.src.backend import set_keras_mask as _set_keras_mask
from keras.src.layers.layer import Layer as _Layer
from keras.src.ops.operation import Operation as _Operation

KERAS_VERSION: str = keras.__version__
LayerBase = _Layer
OperationBase = _Operation


def backend_name() -> str:
    return str(keras.backend.backend())


def get_mask(x: Any) -> Any:
    """The Keras mask riding on tensor `x`, or None."""
    if x is None:
        return None
    try:
        return _get_keras_mask(x)
    except Exception:
        return getattr(x, "_keras_mask", None)


def set_mask(x: Any, mask: Any) -> None:
    _set_keras_mask(x, mask)


def is_tensor(x: Any) -> bool:
    return hasattr(x, "shape") and hasattr(x, "dtype") and not isinstance(x, np.ndarray)


def is_variable(x: Any) -> bool:
    """A Keras variable (a weight), not a tensor computed in the pass."""
    return isinstance(x, keras.Variable)


def is_traced(x: Any) -> bool:
    """Whether `x` is a JAX tracer (a value inside a function being compiled): it has no value yet."""
    jax = sys.modules.get("jax")
    return jax is not None and isinstance(x, jax.core.Tracer)


def inference() -> contextlib.AbstractContextManager[Any]:
    """What `predict` runs under: `torch.no_grad()` on PyTorch (an eager pass with autograd on
    records a graph for every operation: 20% of a BiLSTM's pass), nothing elsewhere."""
    if keras.backend.backend() == "torch":
        import torch

        return torch.no_grad()
    return contextlib.nullcontext()


def to_numpy(x: Any) -> np.ndarray:
    if isinstance(x, np.ndarray):
        return x
    return np.asarray(keras.ops.convert_to_numpy(x))


def shape_of(x: Any) -> tuple[int | None, ...]:
    try:
        return tuple(None if d is None else int(d) for d in x.shape)
    except Exception:
        return ()


def resolve_loss(identifier: Any, y_true: Any, y_pred: Any, legacy: bool = False) -> Any:
    """The Loss object `model.compile(loss=identifier)` would build (masks applied in __call__)."""
    if legacy:
        import tf_keras

        obj = tf_keras.losses.get(identifier)
        from tf_keras.src.losses import LossFunctionWrapper

        return obj if isinstance(obj, tf_keras.losses.Loss) else LossFunctionWrapper(obj)
    from keras.src.trainers.compile_utils import get_loss

    return get_loss(identifier, y_true, y_pred)


def resolve_metric(identifier: Any, y_true: Any, y_pred: Any, legacy: bool = False) -> Any:
    """A fresh Metric object, as `model.compile(metrics=[identifier])` would build it."""
    if legacy:
        import tf_keras

        if isinstance(identifier, tf_keras.metrics.Metric):
            return type(identifier).from_config(identifier.get_config())
        if str(identifier).lower() in ("accuracy", "acc"):
            sparse = (
                len(getattr(y_true, "shape", ())) < len(getattr(y_pred, "shape", ()))
                or getattr(y_true, "shape", (1,))[-1] == 1
            )
            binary = getattr(y_pred, "shape", (0,))[-1] == 1
            identifier = (
                "binary_accuracy"
                if binary
                else "sparse_categorical_accuracy"
                if sparse
                else "categorical_accuracy"
            )
        obj = tf_keras.metrics.get(identifier)
        return obj if isinstance(obj, tf_keras.metrics.Metric) else tf_keras.metrics.MeanMetricWrapper(obj)
    from keras.src.trainers.compile_utils import get_metric

    if isinstance(identifier, keras.metrics.Metric):
        return type(identifier).from_config(identifier.get_config())
    return get_metric(identifier, y_true, y_pred)


def compiled_metric_identifiers(model: Any) -> tuple[Any, Any]:
    """(metrics, weighted_metrics) exactly as passed to `compile`, or (None, None)."""
    cm = getattr(model, "_compile_metrics", None) or getattr(model, "compiled_metrics", None)
    if cm is None:
        return None, None
    return getattr(cm, "_user_metrics", None), getattr(cm, "_user_weighted_metrics", None)


# ---- tf_keras (Keras 2) ------------------------------------------------------------------------


def legacy_keras() -> Any:
    """The tf_keras package when the user has imported it (never imported here), else None."""
    return sys.modules.get("tf_keras")


def legacy_masked_mse_probe() -> float:
    """tf_keras' MeanSquaredError on a prediction of ones masked to 2 real of 4 steps, against
    zeros: 1.0 when a masked loss is divided by the real steps, 0.5 when by all steps."""
    import tensorflow as tf
    import tf_keras

    y_pred = tf.ones((1, 4, 1))
    y_pred._keras_mask = tf.constant([[True, True, False, False]])
    return float(tf_keras.losses.MeanSquaredError()(tf.zeros((1, 4, 1)), y_pred))


def is_legacy(obj: Any) -> bool:
    return type(obj).__module__.startswith("tf_keras.")


def is_layer(obj: Any) -> bool:
    if isinstance(obj, LayerBase):
        return True
    legacy = legacy_keras()
    return legacy is not None and isinstance(obj, legacy.layers.Layer)


def is_model(obj: Any) -> bool:
    if isinstance(obj, keras.Model):
        return True
    legacy = legacy_keras()
    return legacy is not None and isinstance(obj, legacy.Model)


def keras_package(model: Any) -> tuple[str, str]:
    """("keras", "3.15.1") or ("tf_keras", "2.21.0"): the package that runs `model`, and its version."""
    legacy = legacy_keras()
    if is_legacy(model) and legacy is not None:
        return "tf_keras", str(legacy.__version__)
    return "keras", str(KERAS_VERSION)


def keras_label(model: Any) -> str:
    legacy = legacy_keras()
    if is_legacy(model) and legacy is not None:
        return f"tf_keras {legacy.__version__}"
    return f"keras {KERAS_VERSION}"
