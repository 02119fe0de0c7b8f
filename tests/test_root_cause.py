"""Root cause first (issue 12, item 10), and what MC102 says when no loss exists (item 5)."""

from __future__ import annotations

import numpy as np

import maskcheck
from maskcheck import testing as t
from maskcheck.bridge import keras

layers = keras.layers


def _conv_tagger(compiled: bool) -> tuple[keras.Model, np.ndarray]:
    """Masking -> Conv1D (drops the mask) -> per-step Dense: MC101 causes MC102."""
    keras.utils.set_random_seed(0)
    inp = keras.Input((10, 3))
    x = layers.Masking(0.0)(inp)
    x = layers.Conv1D(4, 1)(x)
    out = layers.Dense(2)(x)
    model = keras.Model(inp, out)
    if compiled:
        model.compile(optimizer="adam", loss="mse")
    return model, t.padded_floats(n=16, t=10, f=3)


def test_mask_dropped_leads_and_output_unmasked_names_it() -> None:
    model, x = _conv_tagger(compiled=True)
    y = np.zeros((x.shape[0], 10, 2), "float32")
    report = maskcheck.audit(model, x, y)
    assert report.findings[0].code == "MC101", report.codes
    (mc102,) = report.by_code("MC102")
    assert mc102.details["caused_by"] == "MC101"
    assert "MC101" in mc102.message
    assert "caused_by" not in report.findings[0].details


def test_unmasked_embedding_leads_and_loss_counts_padding_names_it() -> None:
    keras.utils.set_random_seed(0)
    inp = keras.Input((12,), dtype="int32")
    x = layers.Embedding(20, 4)(inp)
    out = layers.Dense(3)(x)
    model = keras.Model(inp, out)
    model.compile(optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    rng = np.random.default_rng(0)
    lengths = rng.integers(4, 10, size=32)
    ids = np.zeros((32, 12), "int32")
    y = np.zeros((32, 12), "int32")
    for i, n in enumerate(lengths):
        ids[i, :n] = rng.integers(1, 20, size=n)
        y[i, :n] = rng.integers(1, 3, size=n)
    report = maskcheck.audit(model, ids, y)
    assert report.findings[0].code == "MC207", report.codes
    (mc305,) = report.by_code("MC305")
    assert mc305.details["caused_by"] == "MC207"
    assert "MC207" in mc305.message
    assert report.codes.index("MC207") < report.codes.index("MC305")


def test_output_unmasked_without_loss_or_y_is_info() -> None:
    model, x = _conv_tagger(compiled=False)
    report = maskcheck.audit(model, x)
    (mc102,) = report.by_code("MC102")
    assert str(mc102.severity) == "info"
    assert mc102.details["no_loss"] is True
    compiled, _ = _conv_tagger(compiled=True)
    (again,) = maskcheck.audit(compiled, x, np.zeros((x.shape[0], 10, 2), "float32")).by_code("MC102")
    assert str(again.severity) == "error"


def _f(code: str, severity: str = "error", **details: object) -> maskcheck.Finding:
    from maskcheck.report import Finding, Severity

    return Finding(code, code.lower(), Severity(severity), f"{code} says", "fix", details=dict(details))


def test_ordering_rules() -> None:
    from maskcheck.facts.ordering import root_cause_first

    # a warning that explains an error leads it; unrelated findings keep their place
    out = root_cause_first([_f("MC104"), _f("MC305"), _f("MC211", "warning")])
    assert [f.code for f in out] == ["MC104", "MC211", "MC305"]
    assert out[2].details["caused_by"] == "MC211" and "caused_by" not in out[0].details
    # a chain names its root
    out = root_cause_first([_f("MC101"), _f("MC102", output=0), _f("MC305")])
    assert [f.details.get("caused_by") for f in out] == [None, "MC101", "MC101"]
    # findings about different model outputs are not linked
    out = root_cause_first([_f("MC102", output=1), _f("MC305", output=0)])
    assert all("caused_by" not in f.details for f in out)


def test_the_most_specific_cause_leads() -> None:
    from maskcheck.facts.ordering import root_cause_first

    # MC202's "no layer makes a mask" (a warning) and MC211 both explain MC305: MC211 is the fix
    out = root_cause_first([_f("MC305"), _f("MC202", "warning"), _f("MC211", "warning")])
    assert [f.code for f in out] == ["MC211", "MC305", "MC202"]
    assert out[1].details["caused_by"] == "MC211"
