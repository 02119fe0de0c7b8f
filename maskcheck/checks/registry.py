"""Finding the checks: every `Check` subclass in a module under `maskcheck.checks`, plus those
that other packages declare in the `maskcheck.checks` entry-point group, plus those registered
for a while with `registered(...)` (tests, notebooks).

A new check is one module with one class; nothing else lists it.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from importlib.metadata import entry_points
from types import ModuleType

from maskcheck.checks.base import Check
from maskcheck.errors import MaskcheckError

ENTRY_POINT_GROUP = "maskcheck.checks"
_INTERNAL = {"base", "registry"}

_lock = threading.Lock()
_discovered: dict[str, type[Check]] | None = None
_extra: dict[str, type[Check]] = {}


def _checks_in(module: ModuleType) -> list[type[Check]]:
    return [
        obj
        for obj in vars(module).values()
        if inspect.isclass(obj)
        and issubclass(obj, Check)
        and obj.__module__ == module.__name__
        and "code" in vars(obj)
    ]


def _add(found: dict[str, type[Check]], check: type[Check], origin: str) -> None:
    other = found.get(check.code)
    if other is not None and other is not check:
        raise RuntimeError(f"duplicate check code {check.code}: {other.__qualname__} and {origin}")
    found[check.code] = check


def _discover() -> dict[str, type[Check]]:
    import maskcheck.bridge  # noqa: F401  (Keras is imported before any check module)
    import maskcheck.checks as package

    found: dict[str, type[Check]] = {}
    for info in pkgutil.walk_packages(package.__path__, prefix=package.__name__ + "."):
        if info.name.rsplit(".", 1)[-1] in _INTERNAL:
            continue
        module = importlib.import_module(info.name)
        for check in _checks_in(module):
            _add(found, check, module.__name__)
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        loaded = ep.load()
        plugged = _checks_in(loaded) if isinstance(loaded, ModuleType) else [loaded]
        for check in plugged:
            if not (inspect.isclass(check) and issubclass(check, Check)):
                raise RuntimeError(f"entry point {ep.name!r} of {ENTRY_POINT_GROUP!r} is not a Check")
            _add(found, check, f"entry point {ep.name!r}")
    return found


def _registry() -> dict[str, type[Check]]:
    global _discovered
    with _lock:
        if _discovered is None:
            _discovered = _discover()
        merged = dict(_discovered)
        merged.update(_extra)
        return merged


def all_checks() -> list[type[Check]]:
    """Every known check, ordered by code."""
    registry = _registry()
    return [registry[c] for c in sorted(registry)]


def get_check(code: str) -> type[Check]:
    registry = _registry()
    try:
        return registry[str(code).upper()]
    except KeyError:
        raise MaskcheckError("code", f"one of {', '.join(sorted(registry))}", repr(code)) from None


@contextmanager
def registered(*checks: type[Check]) -> Iterator[None]:
    """Make `checks` known to every audit inside the block (and only there)."""
    known = _registry()
    with _lock:
        for check in checks:
            if check.code in known and known[check.code] is not check:
                raise RuntimeError(f"check code {check.code} is taken by {known[check.code].__qualname__}")
            _extra[check.code] = check
    try:
        yield
    finally:
        with _lock:
            for check in checks:
                _extra.pop(check.code, None)
