"""`[tool.maskcheck]` in pyproject.toml: ignore, select, min_severity, max_samples, format.

```toml
[tool.maskcheck]
ignore = ["MC104", "MC3"]      # codes or family prefixes (a comma-separated string works too)
select = ["MC1"]               # run only these codes or prefixes
min_severity = "warning"       # lowest severity that fails: info, warning or error
max_samples = 128              # sequences traced through the model
format = "json"                # CLI output: text, json or sarif
```

The nearest pyproject.toml at or above the start directory is used (the current directory for
the CLI, pytest's rootdir for the plugin). Command-line flags, pytest ini options and markers win
over these values.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from maskcheck.errors import MaskcheckError

KEYS = {"ignore", "select", "min_severity", "max_samples", "format"}
SEVERITIES = ("info", "warning", "error")
FORMATS = ("text", "json", "sarif")


def find_pyproject(start: Path | None = None) -> Path | None:
    here = (start or Path.cwd()).resolve()
    for d in (here, *here.parents):
        p = d / "pyproject.toml"
        if p.is_file():
            return p
    return None


def _codes(value: Any, label: str) -> list[str]:
    if isinstance(value, str):
        value = [c.strip() for c in value.split(",") if c.strip()]
    if not isinstance(value, list) or not all(isinstance(c, str) for c in value):
        raise MaskcheckError(label, 'a list of codes such as ["MC104", "MC3"]', repr(value))
    return list(value)


def validate(cfg: dict[str, Any], where: str = "[tool.maskcheck]") -> dict[str, Any]:
    """Check keys and value types; return a normalized copy (code lists as lists of str)."""
    unknown = set(cfg) - KEYS
    if unknown:
        raise MaskcheckError(where, f"keys among {sorted(KEYS)}", f"unknown {sorted(unknown)}")
    out = dict(cfg)
    for key in ("ignore", "select"):
        if key in out:
            out[key] = _codes(out[key], f"{where} {key}")
    if "min_severity" in out and out["min_severity"] not in SEVERITIES:
        raise MaskcheckError(
            f"{where} min_severity", f"one of {', '.join(SEVERITIES)}", repr(out["min_severity"])
        )
    if "format" in out and out["format"] not in FORMATS:
        raise MaskcheckError(f"{where} format", f"one of {', '.join(FORMATS)}", repr(out["format"]))
    if "max_samples" in out:
        n = out["max_samples"]
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise MaskcheckError(f"{where} max_samples", "a positive integer", repr(n))
    return out


def load_config(start: Path | None = None) -> dict[str, Any]:
    """The validated `[tool.maskcheck]` table of the nearest pyproject.toml ({} when none)."""
    path = find_pyproject(start)
    if path is None:
        return {}
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise MaskcheckError(str(path), "valid TOML", str(exc)) from None
    tool = data.get("tool", {})
    cfg = tool.get("maskcheck", {}) if isinstance(tool, dict) else {}
    if not isinstance(cfg, dict):
        raise MaskcheckError(f"{path} [tool.maskcheck]", "a table", repr(cfg))
    return validate(cfg, where=f"{path}: [tool.maskcheck]")
