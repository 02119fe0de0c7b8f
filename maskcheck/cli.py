"""The `maskcheck` command line: demo, audit, checks, explain.

Exit codes: 0 clean, 1 findings at or above the threshold, 2 usage or input error.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        print(f"maskcheck: error: {message}", file=sys.stderr)
        raise SystemExit(2)


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="maskcheck", description="Find masking and padding bugs in Keras sequence models.")
    sub = p.add_subparsers(dest="command", required=True)
    d = sub.add_parser("demo", help="audit the built-in motivating case (a tagger whose mask covers nothing)")
    d.add_argument("--format", choices=["text", "json"], default="text")
    a = sub.add_parser("audit", help="audit a saved .keras model with its data")
    a.add_argument("model", help="a .keras file")
    a.add_argument(
        "--data", required=True, help="X as .npy, or .npz (one array per model input, by input name or order)"
    )
    a.add_argument("--labels", help="y as .npy")
    a.add_argument("--sample-weight", help="sample_weight as .npy")
    a.add_argument("--format", choices=["text", "json", "sarif"], default=None)
    a.add_argument("--ignore", default=None, help="comma-separated codes or prefixes, e.g. MC104,MC3")
    a.add_argument("--select", default=None, help="run only these codes or prefixes")
    a.add_argument("--min-severity", choices=["info", "warning", "error"], default=None)
    a.add_argument("--max-samples", type=int, default=None)
    a.add_argument(
        "--custom-objects", action="append", default=[], help="module:NAME or module (all public names)"
    )
    a.add_argument("--output", "-o", help="write the report here instead of stdout")
    sub.add_parser("checks", help="list the check catalogue")
    e = sub.add_parser("explain", help="show a check's documentation")
    e.add_argument("code")
    return p


def _fail(message: str) -> int:
    print(f"maskcheck: error: {message}", file=sys.stderr)
    return 2


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    from maskcheck.errors import MaskcheckError

    try:
        if args.command == "demo":
            return _demo(args)
        if args.command == "checks":
            return _checks()
        if args.command == "explain":
            return _explain(args.code)
        return _audit(args)
    except MaskcheckError as exc:
        return _fail(str(exc))


def _quiet_keras() -> None:
    import logging
    import warnings

    warnings.filterwarnings("ignore")
    logging.getLogger("tensorflow").setLevel(logging.ERROR)
    try:
        from absl import logging as absl_logging

        absl_logging.set_verbosity(absl_logging.ERROR)
    except ImportError:
        pass


def _demo(args: argparse.Namespace) -> int:
    _quiet_keras()
    from maskcheck import audit
    from maskcheck.demo import broken_model, make_data

    data = make_data()
    print(
        "Auditing the motivating case: Masking(0.) -> BiLSTM -> TimeDistributed(Dense(3, 'sigmoid')),\n"
        "sparse categorical cross-entropy, data padded in a (features, time) layout and reshaped\n"
        "with X.reshape(1, 20, 5). See examples/seed_question.py for the fix, step by step.\n",
        file=sys.stderr,
    )
    report = audit(broken_model(), data.X_broken, data.y)
    print(report.to_json() if args.format == "json" else report.to_text())
    return 0


def _checks() -> int:
    from tabulate import tabulate

    from maskcheck.checks import all_checks

    rows = [[c.code, c.name, str(c.severity), c.summary] for c in all_checks()]
    print(tabulate(rows, headers=["code", "name", "severity", "fires when"], tablefmt="simple"))
    return 0


def _explain(code: str) -> int:
    from maskcheck.checks import get_check

    check = get_check(code)
    print(f"{check.code} {check.name} ({check.severity})\n")
    for title, body in check.doc_sections().items():
        print(f"## {title}\n{body}\n")
    return 0


def _load_array(path: str, argument: str) -> Any:
    import numpy as np

    from maskcheck.errors import MaskcheckError

    if not os.path.exists(path):
        raise MaskcheckError(argument, "an existing .npy or .npz file", repr(path))
    try:
        loaded = np.load(path, allow_pickle=False)
    except Exception as exc:
        raise MaskcheckError(argument, "a readable .npy or .npz file", f"{path!r} ({exc})") from None
    if isinstance(loaded, np.lib.npyio.NpzFile):
        return {k: loaded[k] for k in loaded.files}
    return loaded


def _load_model(path: str, custom: list[str]) -> Any:
    import importlib

    from maskcheck.errors import MaskcheckError

    objects: dict[str, Any] = {}
    for spec in custom:
        mod_name, _, attr = spec.partition(":")
        try:
            mod = importlib.import_module(mod_name)
        except Exception as exc:
            raise MaskcheckError(
                "--custom-objects", "an importable module or module:NAME", f"{spec!r} ({exc})"
            ) from None
        if attr:
            if not hasattr(mod, attr):
                raise MaskcheckError("--custom-objects", f"a name defined in {mod_name}", repr(attr))
            objects[attr] = getattr(mod, attr)
        else:
            objects.update(
                {k: v for k, v in vars(mod).items() if not k.startswith("_") and isinstance(v, type)}
            )
    if not os.path.exists(path):
        raise MaskcheckError("MODEL", "an existing .keras file", repr(path))
    _quiet_keras()
    from maskcheck.keras_bridge import keras

    try:
        return keras.models.load_model(path, custom_objects=objects or None, compile=True)
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise MaskcheckError(
            "MODEL",
            "a loadable .keras model (custom layers need --custom-objects module:NAME)",
            f"{path!r} ({first[:200]})",
        ) from None


def _audit(args: argparse.Namespace) -> int:
    from maskcheck import audit
    from maskcheck.config import load_config
    from maskcheck.errors import MaskcheckError

    cfg = load_config()
    fmt = args.format or cfg.get("format", "text")
    min_sev = args.min_severity or cfg.get("min_severity", "error")
    ignore = args.ignore if args.ignore is not None else cfg.get("ignore", ())
    max_samples = args.max_samples if args.max_samples is not None else int(cfg.get("max_samples", 256))
    X = _load_array(args.data, "--data")
    y = _load_array(args.labels, "--labels") if args.labels else None
    w = _load_array(args.sample_weight, "--sample-weight") if args.sample_weight else None
    model = _load_model(args.model, args.custom_objects)
    if isinstance(X, dict) and len(getattr(model, "inputs", None) or []) <= 1:
        if len(X) != 1:
            raise MaskcheckError(
                "--data", "one array for a single-input model", f"{len(X)} arrays in the .npz"
            )
        X = next(iter(X.values()))
    report = audit(model, X, y, sample_weight=w, max_samples=max_samples, ignore=ignore, select=args.select)
    if fmt == "json":
        text = report.to_json()
    elif fmt == "sarif":
        from maskcheck.sarif import to_sarif

        text = to_sarif(report, artifact=args.model)
    else:
        text = report.to_text()
    if args.output:
        with open(args.output, "w", encoding="utf-8") as fh:
            fh.write(text + "\n")
    else:
        print(text)
    return 1 if report.at_least(min_sev) else 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
