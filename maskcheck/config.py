"""`[tool.maskcheck]` in pyproject.toml: ignore, select, min_severity, max_samples, format."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from maskcheck.errors import MaskcheckError

KEYS = {"ignore", "select", "min_severity", "max_samples", "format"}


def find_pyproject(start: Path | None = None) -> Path | None:
    here = (start or Path.cwd()).resolve()
    for d in (here, *here.parents):
        p = d / "pyproject.toml"
        if p.is_file():
            return p
    return None


def load_config(start: Path | None = None) -> dict[str, Any]:
    path = find_pyproject(start)
    if path is None:
        return {}
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise MaskcheckError(str(path), "valid TOML", str(exc)) from None
    cfg = data.get("tool", {}).get("maskcheck", {})
    unknown = set(cfg) - KEYS
    if unknown:
        raise MaskcheckError("[tool.maskcheck]", f"keys among {sorted(KEYS)}", f"unknown {sorted(unknown)}")
    if "ignore" in cfg and isinstance(cfg["ignore"], str):
        cfg["ignore"] = [c.strip() for c in cfg["ignore"].split(",") if c.strip()]
    return dict(cfg)
