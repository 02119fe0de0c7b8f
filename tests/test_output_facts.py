"""OutputFacts: where an output's padded steps are read from, and how sure its head is."""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
import pytest
from keras import layers

from maskcheck.facts.outputs import OutputFacts
from maskcheck.synth import padded_floats
from maskcheck.testing import outputs as T
from maskcheck.trace import run_traced


def _facts(model: Any, x: Any, y: Any = None, w: Any = None) -> OutputFacts:
    return OutputFacts(model, run_traced(model, x), None if y is None else [y], 0, w)


def _head(units: int, activation: str, bias: list[float]) -> Any:
    return keras.Sequential(
        [
            keras.Input((10, 3)),
            layers.Dense(
                units,
                activation=activation,
                kernel_initializer="zeros",
                bias_initializer=keras.initializers.Constant(bias),
            ),
        ]
    )


@pytest.mark.parametrize(
    ("units", "activation", "bias", "k", "lo", "hi"),
    [
        (3, "softmax", [5.0, 0.0, 0.0], 0, 0.9, 1.0),  # a learned answer
        (3, "softmax", [0.2, 0.0, 0.0], 0, -0.01, 0.2),  # an untrained head's slight lean
        (3, "linear", [5.0, 0.0, 0.0], 0, 0.9, 1.0),  # logits
        (3, "sigmoid", [5.0, 0.0, 0.0], 0, 0.9, 1.0),  # one sure unit
        (3, "sigmoid", [0.0, 0.0, 0.0], 0, -0.01, 0.01),  # every unit at 0.5
        (1, "sigmoid", [3.0], 1, 0.8, 1.0),
        (1, "linear", [-3.0], 0, 0.8, 1.0),
    ],
)
def test_confidence_runs_from_chance_to_certain(
    units: int, activation: str, bias: list[float], k: int, lo: float, hi: float
) -> None:
    x = padded_floats(n=8)
    sure = _facts(_head(units, activation, bias), x).confidence(k, np.ones((8, 10), dtype=bool))
    assert sure is not None and lo <= sure <= hi, sure


def test_confidence_of_a_head_without_probabilities_is_unknown() -> None:
    x = padded_floats(n=8)
    assert _facts(_head(3, "relu", [1.0, 0.0, 0.0]), x).confidence(0, np.ones((8, 10), dtype=bool)) is None


def test_padding_of_a_decoder_output_is_its_own_mask_not_the_encoders() -> None:
    case = T.teacher_forced_seq2seq()
    found = _facts(case.model, case.X, case.y).step_padding
    assert found is not None
    pad, where = found
    assert "output's mask" in where
    assert np.array_equal(pad, case.X[1] == 0)
    assert not np.array_equal(pad, case.X[0] == 0)  # the encoder's padding differs


def test_padding_of_an_unmasked_output_is_the_zero_weight_steps() -> None:
    case = T.end_token_padded(weighted=True)
    w = case.kwargs["sample_weight"]
    facts = _facts(case.model, case.X, case.y, w)
    assert facts.step_padding is not None and "sample_weight" in facts.step_padding[1]
    lab = facts.labels
    assert lab is not None and np.array_equal(lab.padded, w == 0)
    assert lab.pad_label == 2 and 2 in lab.real_classes  # the end label is also a real label


def test_an_unmasked_decoder_borrows_no_padding_from_the_masked_encoder() -> None:
    case = T.teacher_forced_seq2seq(decoder_masked=False)
    facts = _facts(case.model, case.X, case.y)
    assert facts.step_padding is None  # the decoder's steps come from an input no mask source reads


def test_steps_made_inside_the_model_take_the_padding_of_its_mask_source() -> None:
    case = T.autoencoder()  # Masking -> LSTM -> RepeatVector -> LSTM: the output carries no mask
    found = _facts(case.model, case.X, case.y).step_padding
    assert found is not None and "masked steps of X" in found[1]
    assert np.array_equal(found[0], ~case.X.any(-1))
