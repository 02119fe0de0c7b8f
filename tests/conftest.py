from __future__ import annotations

import os
import warnings

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault(
    "MASKCHECK_STRICT", "1"
)  # a check that crashes fails the test instead of becoming a note

import numpy as np
import pytest

import maskcheck
from maskcheck.bridge import keras

pytest_plugins = ["pytester"]


@pytest.fixture(autouse=True)
def _quiet_and_seeded() -> None:
    warnings.filterwarnings("ignore", message=".*does not support masking.*")
    keras.utils.set_random_seed(0)
    np.random.seed(0)


@pytest.fixture
def audit():
    return maskcheck.audit
