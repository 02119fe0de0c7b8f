from __future__ import annotations

import os
import warnings
from collections.abc import Iterator

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # the test process's choice, not the library's

import numpy as np
import pytest

import maskcheck
from maskcheck.bridge import keras
from maskcheck.settings import strict

pytest_plugins = ["pytester"]


@pytest.fixture(scope="session", autouse=True)
def _strict_session() -> Iterator[None]:
    """A check that crashes fails the test instead of becoming a note in the report."""
    with strict():
        yield


@pytest.fixture(autouse=True)
def _quiet_and_seeded() -> None:
    warnings.filterwarnings("ignore", message=".*does not support masking.*")
    keras.utils.set_random_seed(0)
    np.random.seed(0)


@pytest.fixture
def audit():
    return maskcheck.audit
