"""Every example script runs (smoke test): each asserts its own broken/fixed findings."""

from __future__ import annotations

import runpy
from pathlib import Path

import pytest

EXAMPLES = sorted(
    p for p in (Path(__file__).resolve().parents[1] / "examples").glob("*.py") if not p.name.startswith("_")
)


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_example_runs(
    path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.syspath_prepend(str(path.parent))
    monkeypatch.setenv("SEED_EPOCHS", "1")
    runpy.run_path(str(path), run_name="__main__")
    out = capsys.readouterr().out
    assert "maskcheck report" in out


def test_gallery_has_at_least_eight_examples() -> None:
    assert len(EXAMPLES) >= 8
