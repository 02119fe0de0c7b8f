"""Layer kinds by `isinstance`, across Keras 3 and tf_keras (Keras 2).

A kind is a tuple of public class names; a layer is of that kind when it is an instance of one
of those classes (or of a subclass, such as keras-hub's `ReversibleEmbedding` of `Embedding`)
in Keras 3 or, when the user has imported it, in tf_keras. Nothing here compares class names.
"""

from __future__ import annotations

import sys
from functools import cache
from typing import Any

import keras

MASKING = ("Masking",)
EMBEDDING = ("Embedding",)
LAMBDA = ("Lambda",)
SOFTMAX = ("Softmax",)
CUDNN_RNN = ("LSTM", "GRU")
SEQUENCE_WRAPPERS = ("RNN", "Bidirectional", "TimeDistributed")
TIME_DISTRIBUTED = ("TimeDistributed",)
# Layers that call an inner layer once per step: their repeated inner calls are one row.
LOOPS = ("RNN", "TimeDistributed", "StackedRNNCells")
ATTENTION = ("MultiHeadAttention", "Attention", "AdditiveAttention")
MULTI_HEAD_ATTENTION = ("MultiHeadAttention",)
SEQUENTIAL = ("Sequential",)
MERGES = ("Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum", "Concatenate", "Dot")
POOLING_OVER_TIME = (
    "GlobalMaxPooling1D",
    "Flatten",
    "MaxPooling1D",
    "AveragePooling1D",
    "AdaptiveMaxPooling1D",
    "AdaptiveAveragePooling1D",
)
CONV_1D = ("Conv1D", "SeparableConv1D", "DepthwiseConv1D", "Conv1DTranspose")
# Layers that keep each step's values where they are, so the data's pad vector is still what
# a mask source further on compares (the layout pass looks through them).
VALUE_PRESERVING = ("InputLayer", "Dropout", "GaussianNoise", "Activation", "Rescaling", "BatchNormalization")
# Preprocessing layers that turn raw inputs (strings, raw integers) into the ids a model embeds:
# the data pass runs them on X so the data checks see what the mask source sees.
PREPROCESSING = ("TextVectorization", "StringLookup", "IntegerLookup", "Hashing")
CONFUSION_METRICS = (
    "Precision",
    "Recall",
    "AUC",
    "TruePositives",
    "TrueNegatives",
    "FalsePositives",
    "FalseNegatives",
    "PrecisionAtRecall",
    "RecallAtPrecision",
    "SensitivityAtSpecificity",
    "SpecificityAtSensitivity",
    "F1Score",
    "FBetaScore",
)


def _classes_in(root: Any, names: tuple[str, ...]) -> tuple[type, ...]:
    found = []
    for name in names:
        for namespace in (root.layers, root.metrics, root):
            cls = getattr(namespace, name, None)
            if isinstance(cls, type):
                found.append(cls)
                break
    return tuple(found)


@cache
def _keras_classes(names: tuple[str, ...]) -> tuple[type, ...]:
    return _classes_in(keras, names)


def _legacy_classes(names: tuple[str, ...]) -> tuple[type, ...]:
    legacy = sys.modules.get("tf_keras")
    return () if legacy is None else _classes_in(legacy, names)


def is_legacy_op(layer: Any) -> bool:
    """Whether `layer` is one of tf_keras' wrappers of a raw TensorFlow op (`TFOpLambda` and kin),
    which stand for an operation, not a layer, in a Keras 2 graph."""
    legacy = sys.modules.get("tf_keras")
    if legacy is None:
        return False
    try:
        from tf_keras.src.layers.core import tf_op_layer
    except ImportError:  # a tf_keras that moved its internals
        return False
    return isinstance(layer, (tf_op_layer.TFOpLambda, tf_op_layer.InstanceProperty, tf_op_layer.ClassMethod))


def source_kind(layer: Any) -> str | None:
    """ "Masking" or "Embedding" for the two built-in mask sources (subclasses included), else None."""
    if is_kind(layer, MASKING):
        return "Masking"
    if is_kind(layer, EMBEDDING):
        return "Embedding"
    return None


def is_kind(obj: Any, kind: tuple[str, ...]) -> bool:
    """Whether `obj` is an instance of one of the classes named by `kind`."""
    classes = _keras_classes(kind) + _legacy_classes(kind)
    return bool(classes) and isinstance(obj, classes)
