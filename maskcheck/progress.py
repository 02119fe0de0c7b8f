"""A tiny, dependency-free progress reporter for audits over large datasets.

It draws one self-overwriting line on an interactive terminal and stays silent otherwise:

    progress = Progress(total=len(X), desc="scanning data")
    for batch in batches:
        ...
        progress.update(len(batch))
    progress.close()

`enabled=None` (the default) means: on when `stream.isatty()` and the environment variable
`MASKCHECK_QUIET` is unset or empty (`maskcheck audit --quiet` sets it). Pass `enabled=True`
or `False` to decide explicitly.
"""

from __future__ import annotations

import os
import sys
import time
from types import TracebackType
from typing import IO

QUIET_ENV = "MASKCHECK_QUIET"


def _default_enabled(stream: IO[str]) -> bool:
    if os.environ.get(QUIET_ENV):
        return False
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty()) if callable(isatty) else False
    except (OSError, ValueError):  # a closed or detached stream
        return False


class Progress:
    """Count work done and show it as a bar (known total) or a running count (unknown total).

    Redraws are throttled to one every `min_interval` seconds; the first update, reaching the
    total and `close()` always draw. `close()` ends the line with a newline, is idempotent and is
    called on leaving a `with` block.
    """

    def __init__(
        self,
        total: int | None = None,
        enabled: bool | None = None,
        stream: IO[str] | None = None,
        desc: str = "maskcheck",
        unit: str = "sequences",
        width: int = 30,
        min_interval: float = 0.1,
    ) -> None:
        if total is not None and (isinstance(total, bool) or not isinstance(total, int) or total < 0):
            raise ValueError(f"total: expected None or a non-negative integer, got {total!r}")
        self.stream: IO[str] = stream if stream is not None else sys.stderr
        self.total = total
        self.enabled = _default_enabled(self.stream) if enabled is None else bool(enabled)
        self.desc = desc
        self.unit = unit
        self.width = max(1, int(width))
        self.min_interval = float(min_interval)
        self.n = 0
        self.closed = False
        self._drawn = False
        self._last_draw = 0.0
        self._last_len = 0

    def update(self, n: int = 1) -> None:
        """Add `n` units of work done (and redraw if enabled and due)."""
        if self.closed:
            return
        self.n += int(n)
        if not self.enabled:
            return
        now = time.monotonic()
        finished = self.total is not None and self.n >= self.total
        if not self._drawn or finished or now - self._last_draw >= self.min_interval:
            self._draw()
            self._last_draw = now

    def render(self) -> str:
        """The progress line as text (without the carriage return)."""
        if self.total:
            frac = min(1.0, self.n / self.total)
            filled = round(frac * self.width)
            bar = "#" * filled + "-" * (self.width - filled)
            return f"{self.desc} [{bar}] {self.n}/{self.total} {self.unit} {frac:4.0%}"
        return f"{self.desc} {self.n} {self.unit}"

    def _draw(self) -> None:
        line = self.render()
        pad = " " * max(0, self._last_len - len(line))
        try:
            self.stream.write("\r" + line + pad)
            self.stream.flush()
        except (OSError, ValueError):
            self.enabled = False
            return
        self._last_len = len(line)
        self._drawn = True

    def close(self) -> None:
        """Draw the final state and end the line. Does nothing when disabled or already closed."""
        if self.closed:
            return
        self.closed = True
        if not self.enabled:
            return
        self._draw()
        if self._drawn:
            try:
                self.stream.write("\n")
                self.stream.flush()
            except (OSError, ValueError):
                pass

    def __enter__(self) -> Progress:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


__all__ = ["QUIET_ENV", "Progress"]
