"""The motivating case, end to end: audit, fix what the report names, audit again, train both.

A BiLSTM tagger over zero-padded sequences whose batches were laid out (features, time) and then
reshaped with `reshape(1, 20, 5)`; a 3-unit sigmoid head for 2 real classes plus padding label 0,
trained with sparse categorical cross-entropy. Run: `python examples/seed_question.py`.
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import warnings

import numpy as np

import maskcheck
from maskcheck.bridge import keras
from maskcheck.demo import broken_model, fixed_labels, fixed_model, make_data

warnings.filterwarnings("ignore")
EPOCHS = int(os.environ.get("SEED_EPOCHS", "8"))


def real_step_scores(
    model: keras.Model, X: np.ndarray, y: np.ndarray, real: np.ndarray, pad_label: int | None
) -> tuple[float, float]:
    pred = np.argmax(model.predict(X, verbose=0), axis=-1)
    acc = float((pred[real] == y[real]).mean())
    as_pad = float((pred[real] == pad_label).mean()) if pad_label is not None else 0.0
    return acc, as_pad


def main() -> None:
    keras.utils.set_random_seed(0)
    data = make_data(n=512)
    real = data.y > 0  # the true padding: steps beyond each sequence's length

    print("=" * 30, "1. the broken model and data", "=" * 30)
    broken = broken_model()
    report = maskcheck.audit(broken, data.X_broken, data.y)
    print(report)
    assert {"MC201", "MC303", "MC302"} <= set(report.codes), report.codes

    print("=" * 30, "2. apply the fixes the report names", "=" * 30)
    t, f = data.X_broken.shape[1], data.X_broken.shape[2]
    X_fixed = data.X_broken.reshape(-1, f, t).transpose(0, 2, 1)  # MC201's fix on the array we have
    assert np.array_equal(X_fixed, data.X_fixed)
    y_fixed = fixed_labels(data.y)  # MC302: 1 -> 0, 2 -> 1; padded steps are masked
    fixed = fixed_model()  # MC303: Dense(2, activation="softmax")
    print(
        'X = X.reshape(-1, 5, 20).transpose(0, 2, 1); y = np.where(y > 0, y - 1, 0); Dense(2, activation="softmax")'
    )

    print("=" * 30, "3. audit again", "=" * 30)
    report2 = maskcheck.audit(fixed, X_fixed, y_fixed)
    print(report2)
    assert report2.ok, report2.codes

    print("=" * 30, f"4. train both for {EPOCHS} epochs", "=" * 30)
    broken.fit(data.X_broken, data.y, epochs=EPOCHS, batch_size=32, verbose=0)
    fixed.fit(X_fixed, y_fixed, epochs=EPOCHS, batch_size=32, verbose=0)
    acc_b, pad_b = real_step_scores(broken, data.X_broken, data.y, real, pad_label=0)
    acc_f, _ = real_step_scores(fixed, X_fixed, y_fixed, real, pad_label=None)
    print(f"broken: accuracy on real steps {acc_b:.1%}, real steps predicted as padding {pad_b:.1%}")
    print(
        f"fixed:  accuracy on real steps {acc_f:.1%}, real steps predicted as padding n/a (no padding class)"
    )
    after = maskcheck.audit(broken, data.X_broken, data.y)
    print(
        "the trained broken model now also shows:",
        ", ".join(sorted(set(after.codes) - set(report.codes))) or "nothing new",
    )


if __name__ == "__main__":
    main()
