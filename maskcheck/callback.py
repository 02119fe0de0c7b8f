"""`AuditCallback`: audit the model when `fit` starts and stop a run that would train on padding.

    from maskcheck.keras import AuditCallback

    model.fit(X, y, epochs=10, callbacks=[AuditCallback(X[:64], y[:64])])

Keras 3 callbacks never see the training batches (`on_train_batch_begin` gets only the batch
index, and the batch lives inside the compiled train function), so the callback cannot pick
its sample from the first batch by itself. The design is therefore explicit:

* `AuditCallback(X_sample, y_sample)`: audits on that sample, with every check, the data and
  label checks included. Pass a slice of the training data: `X[:64], y[:64]`.
* `AuditCallback()` with no sample: audits on a post-padded probe batch that maskcheck
  synthesizes from the model's input spec (what `maskcheck.audit(model)` does). The mask
  propagation checks run; checks that need your data or labels do not, and the report says so
  in a note.

When the model is not built yet at `on_train_begin` (a subclassed model without an `Input`,
which Keras builds while tracing the first step), the audit runs right after the first batch.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable
from typing import Any

from maskcheck.bridge import keras
from maskcheck.errors import MaskcheckError
from maskcheck.report import Finding, Report
from maskcheck.settings import DEFAULT_TIME_BUDGET, Settings, optional_logger, verbosity
from maskcheck.settings import steps as steps_value

WHEN = ("train_begin", "epoch_end")


class AuditCallback(keras.callbacks.Callback):
    """Audit the model being trained with `maskcheck.audit`.

    Args:
        X_sample: inputs to audit on (array, list/dict of arrays, dataset...; see
            `maskcheck.audit`). None: a synthesized probe batch (propagation checks only).
        y_sample: labels for `X_sample` (enables the label and loss checks).
        sample_weight: sample weights for `X_sample`.
        on: "train_begin" (default): audit once when `fit` starts; "epoch_end": audit after
            every epoch (for checks whose outcome depends on the trained weights).
        fail_on: "error" (default), "warning" or "info" (any case): when a finding at or above
            this severity (and not ignored) is found, set `model.stop_training = True` and raise
            `maskcheck.MaskcheckFailure` out of `fit`. None: only log the report.
        ignore: codes or prefixes that neither run nor fail, as in `maskcheck.audit`; an
            unknown code is a `MaskcheckError` here, not when `fit` starts.
        max_samples: sequences traced through the model (a positive integer).
        time_budget: seconds the traced pass and probes may take before fewer sequences are
            traced (default 30); None: no limit.
        steps: batches of `X_sample` to read (a positive integer), as `fit`'s `steps_per_epoch`;
            needed for an endless dataset only to read fewer than the default bound.
        verbose: as in Keras, True/False or 0, 1, 2: 0 (False) prints nothing, 1 (True) and 2
            print the report to stdout, like Keras' progress bar.
        logger: a `logging.Logger` (`logging.getLogger("train")`, not the name) to log the
            report through instead of printing it (warning level when there are findings,
            info otherwise), or None.

    Every argument is checked when the callback is built, with the rules `maskcheck.audit`
    uses, so a typo fails before training starts.

    After the audit `callback.report` holds the latest `maskcheck.Report` and
    `callback.reports` all of them. The audit never changes the model.
    """

    def __init__(
        self,
        X_sample: Any = None,
        y_sample: Any = None,
        sample_weight: Any = None,
        *,
        on: str = "train_begin",
        fail_on: str | None = "error",
        ignore: Iterable[str] | str = (),
        max_samples: int = 256,
        time_budget: float | None = DEFAULT_TIME_BUDGET,
        steps: int | None = None,
        verbose: int = 1,
        logger: logging.Logger | None = None,
    ) -> None:
        super().__init__()
        if on not in WHEN:
            raise MaskcheckError("on", f"one of {', '.join(map(repr, WHEN))}", repr(on))
        if X_sample is None and (y_sample is not None or sample_weight is not None):
            raise MaskcheckError("X_sample", "inputs whenever y_sample or sample_weight is given", "None")
        settings = Settings().merge(
            {
                "ignore": ignore,
                "max_samples": max_samples,
                "time_budget": "none" if time_budget is None else time_budget,  # None: no limit
            }
        )
        if fail_on is not None:
            settings = settings.merge({"min_severity": fail_on}, lambda _: "fail_on")
        self._settings = settings
        self.X_sample = X_sample
        self.y_sample = y_sample
        self.sample_weight = sample_weight
        self.on = on
        self.fail_on: str | None = None if fail_on is None else str(settings.min_severity)
        self.ignore = settings.ignore
        self.max_samples = settings.max_samples
        self.time_budget = settings.time_budget
        self.steps = steps_value(steps, "steps")
        self.verbose = verbosity(verbose, "verbose")
        self.logger = optional_logger(logger, "logger")
        self.report: Report | None = None
        self.reports: list[Report] = []
        self._pending = False

    # -- Keras hooks -------------------------------------------------------------------------

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        self._pending = False
        if self.on != "train_begin":
            return
        if not self.model.built:
            self._pending = True  # Keras builds it while tracing the first step
            return
        self._run("train_begin")

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        if self._pending:
            self._pending = False
            self._run("first batch")

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if self.on == "epoch_end":
            self._run(f"end of epoch {epoch + 1}")

    # -- the audit ---------------------------------------------------------------------------

    def failing(self, report: Report) -> list[Finding]:
        """The findings that reach `fail_on` (none when `fail_on` is None)."""
        if self.fail_on is None:
            return []
        return self._settings.failing(report)

    def _run(self, when: str) -> None:
        from maskcheck.engine import audit

        report = audit(
            self.model,
            self.X_sample,
            self.y_sample,
            sample_weight=self.sample_weight,
            max_samples=self.max_samples,
            time_budget=self.time_budget,
            ignore=self.ignore,
            steps=self.steps,
        )
        self.report = report
        self.reports.append(report)
        bad = self.failing(report)
        if not bad or self.logger is not None:  # a failure carries the report in its message
            self._log(f"maskcheck audit at {when}:\n{report.to_text()}", has_findings=bool(report.findings))
        if bad:
            self.model.stop_training = True
            raise self._settings.failure(report, bad, lead=f"maskcheck stopped training at {when}:")

    def _log(self, text: str, has_findings: bool) -> None:
        if self.logger is not None:
            self.logger.log(logging.WARNING if has_findings else logging.INFO, text)
        elif self.verbose:
            print(text, file=sys.stdout, flush=True)


__all__ = ["AuditCallback"]
