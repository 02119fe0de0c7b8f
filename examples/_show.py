"""Shared by the example scripts: audit a broken and a fixed version and show both reports."""

from __future__ import annotations

import os
import warnings

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
warnings.filterwarnings("ignore")

from typing import Any  # noqa: E402

import maskcheck  # noqa: E402


def compare(
    title: str, broken: tuple[Any, ...], fixed: tuple[Any, ...], expect: set[str], **kwargs: Any
) -> None:
    """`broken`/`fixed` are (model, X) or (model, X, y); `expect` the codes the broken one must show."""
    fixed_kwargs = kwargs.pop("fixed_kwargs", kwargs)
    print("=" * 20, title, "- broken", "=" * 20)
    before = maskcheck.audit(*broken, **kwargs)
    print(before)
    missing = expect - set(before.codes)
    assert not missing, f"expected {sorted(missing)} in {before.codes}"
    print("=" * 20, title, "- fixed", "=" * 20)
    after = maskcheck.audit(*fixed, **fixed_kwargs)
    print(after)
    assert not (expect & set(after.codes)), f"still {sorted(expect & set(after.codes))}"
    assert after.ok, after.codes
