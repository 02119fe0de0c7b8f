"""The one settings model: every option is parsed, merged and applied here.

`audit`, the command line, the pytest plugin and the Keras callback all validate through these
functions and `Settings`, so a value means the same thing, and is rejected with the same
`MaskcheckError`, wherever it is given. Later sources win (`Settings.merge`):

    [tool.maskcheck] (pyproject.toml) -> pytest ini options -> marker -> call arguments

and ignored codes add up across them (the command line's `--ignore` replaces instead).

```toml
[tool.maskcheck]
ignore = ["MC104", "MC3"]      # codes or family prefixes (a comma-separated string works too)
select = ["MC1"]               # run only these codes or prefixes
min_severity = "warning"       # lowest severity that fails: info, warning or error
max_samples = 128              # sequences traced through the model
time_budget = 30               # seconds for the traced pass and probes ("none": no limit)
format = "json"                # CLI output: text, json or sarif
```

The nearest pyproject.toml at or above the start directory is used (the current directory for
the CLI, pytest's rootdir for the plugin).

Strictness (a check that crashes raises instead of becoming a note) is an explicit argument of
`audit`; `strict()` sets its default for a block of code, e.g. a whole test session.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import math
import numbers
import re
import sys
import tomllib
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from maskcheck.checks import all_checks
from maskcheck.errors import MaskcheckError, MaskcheckFailure
from maskcheck.report import Finding, Report, Severity, failure_message

KEYS = ("ignore", "select", "min_severity", "max_samples", "time_budget", "format")
FORMATS = ("text", "json", "sarif")
DEFAULT_MAX_SAMPLES = 256
# Seconds the model part of an audit may take before an expensive model is traced on fewer
# sequences: a 12-layer BERT on a CPU takes minutes for 256 sequences of 512 tokens.
DEFAULT_TIME_BUDGET = 30.0
_CODES_HELP = "check codes such as 'MC101' or family prefixes such as 'MC1' that name at least one check"


# -- one value ----------------------------------------------------------------------------------


def codes(value: Any, argument: str) -> tuple[str, ...]:
    """Codes or prefixes, upper-cased: a list of strings or one comma-separated string.

    Each must name at least one known check (`mc1` names the MC1xx family)."""
    if value is None:
        return ()
    if isinstance(value, str):
        items: list[Any] = [v for v in re.split(r"[\s,]+", value) if v]
    elif isinstance(value, Iterable) and not isinstance(value, (bytes, Mapping)):
        items = list(value)
    else:
        raise MaskcheckError(argument, f"a list (or a comma-separated string) of {_CODES_HELP}", repr(value))
    known = [c.code for c in all_checks()]
    out = []
    for item in items:
        code = item.strip().upper() if isinstance(item, str) else ""
        if not code.startswith("MC") or not any(k.startswith(code) for k in known):
            raise MaskcheckError(argument, _CODES_HELP, repr(item))
        out.append(code)
    return tuple(out)


def severity(value: Any, argument: str) -> Severity:
    """A severity name in any case, or a `Severity`."""
    return Severity.parse(value, argument)


def integer(value: Any, argument: str, minimum: int) -> int:
    """An integer (a NumPy integer too, never a bool) of at least `minimum`."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        expected = "a positive integer" if minimum == 1 else f"an integer >= {minimum}"
        raise MaskcheckError(argument, expected, repr(value))
    return int(value)


def positive_int(value: Any, argument: str) -> int:
    return integer(value, argument, 1)


def steps(value: Any, argument: str = "steps") -> int | None:
    """`audit`'s `steps`: None (every batch of a sized source) or the batches to read, as `fit`'s
    `steps_per_epoch`."""
    return None if value is None else integer(value, argument, 1)


def time_budget(value: Any, argument: str = "time_budget") -> float:
    """Seconds (a positive number, or a numeric string) the traced pass and the probes may take
    before fewer sequences are traced; "none" (or infinity) for no limit."""
    if isinstance(value, str):
        text = value.strip().lower()
        if text in ("none", "off", "inf"):
            return math.inf
        with contextlib.suppress(ValueError):
            value = float(text)
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real) or not float(value) > 0:
        raise MaskcheckError(argument, 'a positive number of seconds, or None (or "none") for no limit', repr(value))
    return float(value)


def seed(value: Any, argument: str = "seed") -> int:
    """A random seed: an integer >= 0 (NumPy's generators reject negative seeds)."""
    return integer(value, argument, 0)


def verbosity(value: Any, argument: str = "verbose") -> int:
    """Keras' `verbose`: True/False or 0, 1, 2 (0 silent; 1 and 2 both print the report)."""
    if isinstance(value, (bool, np.bool_)):
        return int(value)
    if isinstance(value, numbers.Integral) and int(value) in (0, 1, 2):
        return int(value)
    raise MaskcheckError(argument, "True, False, 0, 1 or 2", repr(value))


def optional_logger(value: Any, argument: str = "logger") -> logging.Logger | None:
    """A `logging.Logger` (e.g. `logging.getLogger("train")`) or None; a name is not enough."""
    if value is None or isinstance(value, logging.Logger):
        return value
    raise MaskcheckError(argument, "a logging.Logger (logging.getLogger(name)) or None", repr(value))


def flag(value: Any, argument: str) -> bool:
    """True or False (NumPy booleans too)."""
    if not isinstance(value, (bool, np.bool_)):
        raise MaskcheckError(argument, "True or False", repr(value))
    return bool(value)


def optional_flag(value: Any, argument: str) -> bool | None:
    """True, False or None (None: decide by the default)."""
    return None if value is None else flag(value, argument)


def output_format(value: Any, argument: str) -> str:
    if not isinstance(value, str) or value.strip().lower() not in FORMATS:
        raise MaskcheckError(argument, f"one of {', '.join(FORMATS)}", repr(value))
    return value.strip().lower()


def matches(code: str, prefixes: Iterable[str]) -> bool:
    """Whether `code` starts with one of the (upper-case) codes or prefixes."""
    return any(code.startswith(p) for p in prefixes)


_PARSERS: dict[str, Callable[[Any, str], Any]] = {
    "ignore": codes,
    "select": codes,
    "min_severity": severity,
    "max_samples": positive_int,
    "time_budget": time_budget,
    "format": output_format,
}


# -- strictness and progress ---------------------------------------------------------------------

_STRICT: ContextVar[bool] = ContextVar("maskcheck_strict", default=False)


@contextmanager
def strict(enabled: bool = True) -> Iterator[None]:
    """Within the block, `audit(strict=None)` is strict: a check (or the mask map) that crashes
    raises instead of becoming a note. The test suite wraps its session in it."""
    token = _STRICT.set(flag(enabled, "enabled"))
    try:
        yield
    finally:
        _STRICT.reset(token)


def strict_enabled(value: Any = None) -> bool:
    """`audit`'s `strict` argument: True/False, or None for the default `strict()` set."""
    chosen = optional_flag(value, "strict")
    return _STRICT.get() if chosen is None else chosen


def progress_enabled(value: Any = None) -> bool:
    """`audit`'s `progress` argument: True/False, or None for "only when stderr is a terminal"."""
    chosen = optional_flag(value, "progress")
    if chosen is not None:
        return chosen
    isatty = getattr(sys.stderr, "isatty", None)
    try:
        return bool(isatty()) if callable(isatty) else False
    except (OSError, ValueError):  # a closed or detached stream
        return False


def _from_text(value: Any) -> Any:
    """An integer written as text becomes the integer; anything else is left to the parsers."""
    if isinstance(value, str) and re.fullmatch(r"\s*-?\d+\s*", value):
        return int(value)
    return value


# -- the model -----------------------------------------------------------------------------------


def _named(key: str) -> str:
    return key


@dataclass(frozen=True)
class Settings:
    """What to run and what fails: the merged configuration of one audit, test or command.

    `ignore` and `select` are upper-case codes or prefixes (an empty `select` runs every check).
    """

    ignore: tuple[str, ...] = ()
    select: tuple[str, ...] = ()
    min_severity: Severity = Severity.ERROR
    max_samples: int = DEFAULT_MAX_SAMPLES
    time_budget: float = DEFAULT_TIME_BUDGET
    format: str = "text"

    def merge(
        self,
        values: Mapping[str, Any],
        where: Callable[[str], str] = _named,
        *,
        source: str = "settings",
        add_ignore: bool = True,
        text: bool = False,
    ) -> Settings:
        """These settings overridden by `values` (a later source), validated.

        A value of None (or, with `text`, an empty string) means "not given". `where(key)` names
        a value in error messages (e.g. `--max-samples`), `source` names the whole mapping.
        Ignored codes add to the ones already here unless `add_ignore` is False. `text`: the
        values are strings, as pytest ini options are ("4" is the number 4)."""
        unknown = set(values) - set(KEYS)
        if unknown:
            raise MaskcheckError(source, f"keys among {sorted(KEYS)}", f"unknown {sorted(unknown)}")
        given = {key: value for key, value in values.items() if value is not None}
        if text:
            given = {key: _from_text(value) for key, value in given.items() if value not in ("", [])}
        changes = {key: _PARSERS[key](value, where(key)) for key, value in given.items()}
        if add_ignore and "ignore" in changes:
            changes["ignore"] = (*self.ignore, *changes["ignore"])
        return dataclasses.replace(self, **changes)

    def runs(self, code: str) -> bool:
        """Whether the check with this code runs under `select` and `ignore`."""
        if self.select and not matches(code, self.select):
            return False
        return not matches(code, self.ignore)

    def failing(self, report: Report) -> list[Finding]:
        """The findings of `report` that reach `min_severity` and are not ignored."""
        return [f for f in report.at_least(self.min_severity) if not matches(f.code, self.ignore)]

    def failure(
        self, report: Report, findings: list[Finding], lead: str = "maskcheck found"
    ) -> MaskcheckFailure:
        """The `MaskcheckFailure` for these failing findings, the full report in its message."""
        return MaskcheckFailure(failure_message(report, findings, self.min_severity, lead))


# -- [tool.maskcheck] ----------------------------------------------------------------------------


def find_pyproject(start: Path | None = None) -> Path | None:
    here = (start or Path.cwd()).resolve()
    for d in (here, *here.parents):
        p = d / "pyproject.toml"
        if p.is_file():
            return p
    return None


def load_settings(start: Path | None = None) -> Settings:
    """The validated `[tool.maskcheck]` table of the nearest pyproject.toml (defaults when none)."""
    path = find_pyproject(start)
    if path is None:
        return Settings()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise MaskcheckError(str(path), "valid TOML", str(exc)) from None
    tool = data.get("tool", {})
    cfg = tool.get("maskcheck", {}) if isinstance(tool, dict) else {}
    where = f"{path}: [tool.maskcheck]"
    if not isinstance(cfg, dict):
        raise MaskcheckError(where, "a table", repr(cfg))
    return Settings().merge(cfg, lambda key: f"{where} {key}", source=where)


__all__ = [
    "FORMATS",
    "KEYS",
    "Settings",
    "codes",
    "find_pyproject",
    "flag",
    "integer",
    "load_settings",
    "matches",
    "optional_logger",
    "output_format",
    "positive_int",
    "progress_enabled",
    "seed",
    "severity",
    "steps",
    "strict",
    "strict_enabled",
    "time_budget",
    "verbosity",
]
