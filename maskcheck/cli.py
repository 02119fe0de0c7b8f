"""The `maskcheck` command line: demo, audit, checks, explain.

Exit codes: 0 clean, 1 findings at or above the threshold, 2 usage or input error. A user's
mistake (missing file, unreadable array, wrong shape, unknown code) is reported as one line on
stderr, `maskcheck: error: ...`, never as a traceback.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections.abc import Sequence
from typing import Any

EXIT_CLEAN, EXIT_FINDINGS, EXIT_USAGE = 0, 1, 2


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        print(f"maskcheck: error: {message}", file=sys.stderr)
        raise SystemExit(EXIT_USAGE)


def _parser() -> argparse.ArgumentParser:
    from maskcheck._version import __version__
    from maskcheck.report import Severity
    from maskcheck.settings import FORMATS

    severities = [s.value for s in Severity]
    p = _Parser(
        prog="maskcheck",
        description="Find masking and padding bugs in Keras sequence models.",
        epilog="Exit codes: 0 clean, 1 findings at or above the threshold, 2 usage or input error.",
    )
    p.add_argument("--version", action="version", version=f"maskcheck {__version__}")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)
    d = sub.add_parser("demo", help="audit the built-in motivating case (a tagger whose mask covers nothing)")
    d.add_argument("--format", choices=FORMATS, default="text")
    a = sub.add_parser(
        "audit",
        help="audit a saved .keras model with its data",
        description="Audit a saved .keras model on its data. Flags win over [tool.maskcheck] in pyproject.toml.",
    )
    a.add_argument("model", help="a .keras file")
    a.add_argument(
        "--data", required=True, help="X as .npy, or .npz (one array per model input, by input name or order)"
    )
    a.add_argument("--labels", help="y as .npy (or .npz for several outputs)")
    a.add_argument("--sample-weight", help="sample_weight as .npy")
    a.add_argument("--format", choices=FORMATS, default=None, help="default: text")
    a.add_argument("--ignore", default=None, help="comma-separated codes or prefixes, e.g. MC104,MC3")
    a.add_argument("--select", default=None, help="run only these codes or prefixes")
    a.add_argument(
        "--min-severity",
        choices=severities,
        default=None,
        help="lowest severity that makes the exit code 1 (default: error)",
    )
    a.add_argument(
        "--max-samples", type=int, default=None, help="sequences traced through the model (default: 256)"
    )
    a.add_argument(
        "--time-budget",
        default=None,
        metavar="SECONDS",
        help="seconds the traced pass and probes may take before fewer sequences are traced "
        "(default: 30; 'none': no limit)",
    )
    a.add_argument(
        "--custom-objects",
        action="append",
        default=[],
        metavar="MODULE[:NAME]",
        help="custom layers for loading: module:NAME, or a module (all its public classes); repeatable",
    )
    a.add_argument(
        "--unsafe-load",
        action="store_true",
        help="load a model whose Lambda layers Keras' safe mode refuses (safe_mode=False). RISK: this runs "
        "arbitrary Python code stored in the file; use it only for a .keras file you made or trust",
    )
    a.add_argument("--output", "-o", help="write the report here instead of stdout")
    a.add_argument(
        "--html", metavar="FILE", help="also write an HTML report (mask map, mask flow, findings) to FILE"
    )
    a.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    sub.add_parser("checks", help="list the check catalogue")
    e = sub.add_parser("explain", help="show a check's documentation")
    e.add_argument("code", help="a check code such as MC101")
    return p


def _fail(message: str) -> int:
    first = " ".join(message.split())  # one line, whatever the message contained
    print(f"maskcheck: error: {first}", file=sys.stderr)
    return EXIT_USAGE


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code (argparse's usage errors included)."""
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exc:  # --help, --version, usage errors
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else EXIT_USAGE)
    _import_keras_quietly()
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
    except KeyboardInterrupt:
        print("maskcheck: interrupted", file=sys.stderr)
        return 130


def _import_keras_quietly() -> None:
    """Import Keras (and TensorFlow) with file descriptor 2 muted: TensorFlow's C++ start-up lines
    (oneDNN, absl) ignore TF_CPP_MIN_LOG_LEVEL. Python exceptions still propagate.

    The command line is the only place that reads or sets the environment for this: the library
    itself just imports Keras. MASKCHECK_SHOW_IMPORT_LOGS=1 keeps the start-up lines."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if "keras" in sys.modules or os.environ.get("MASKCHECK_SHOW_IMPORT_LOGS"):
        return
    try:
        saved = os.dup(2)
    except OSError:
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        import keras  # noqa: F401
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


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


def _render(report: Any, fmt: str, artifact: str | None) -> str:
    if fmt == "json":
        return str(report.to_json())
    if fmt == "sarif":
        from maskcheck.render.sarif import to_sarif

        return to_sarif(report, artifact=artifact)
    return str(report.to_text())


def keras_seed() -> None:
    """The demo's model is built with a fixed seed so its report is the same every run."""
    from maskcheck.bridge import keras

    keras.utils.set_random_seed(0)


def _demo(args: argparse.Namespace) -> int:
    _quiet_keras()
    from maskcheck import audit
    from maskcheck.demo import broken_model, make_data

    keras_seed()
    data = make_data()
    print(
        "Auditing the motivating case: Masking(0.) -> BiLSTM -> TimeDistributed(Dense(3, 'sigmoid')),\n"
        "sparse categorical cross-entropy, data padded in a (features, time) layout and reshaped\n"
        "with X.reshape(1, 20, 5). See examples/seed_question.py for the fix, step by step.\n",
        file=sys.stderr,
    )
    report = audit(broken_model(), data.X_broken, data.y)
    print(_render(report, args.format, None))
    return EXIT_CLEAN


def _checks() -> int:
    from tabulate import tabulate

    from maskcheck.checks import all_checks

    rows = [[c.code, c.name, str(c.severity), c.summary] for c in all_checks()]
    print(tabulate(rows, headers=["code", "name", "severity", "fires when"], tablefmt="simple"))
    print("\n`maskcheck explain CODE` shows a check's documentation.")
    return EXIT_CLEAN


def _explain(code: str) -> int:
    from maskcheck.checks import get_check

    check = get_check(code)
    print(f"{check.code} {check.name} ({check.severity})\n")
    print(f"Fires when {check.summary}.\n")
    for title, body in check.doc_sections().items():
        print(f"## {title}\n{body}\n")
    return EXIT_CLEAN


def _load_array(path: str, argument: str) -> Any:
    import numpy as np

    from maskcheck.errors import MaskcheckError

    if not os.path.isfile(path):
        what = "a directory" if os.path.isdir(path) else "no such file"
        raise MaskcheckError(argument, "an existing .npy or .npz file", f"{path!r} ({what})")
    try:
        with open(path, "rb") as fh:
            magic = fh.read(6)
        if magic != b"\x93NUMPY" and not magic.startswith(b"PK"):
            raise ValueError("not a NumPy .npy or .npz file; save arrays with np.save / np.savez")
        loaded = np.load(path, allow_pickle=False)
        if isinstance(loaded, np.lib.npyio.NpzFile):
            with loaded:
                arrays = {k: loaded[k] for k in loaded.files}
            if not arrays:
                raise MaskcheckError(argument, "an .npz file with at least one array", f"{path!r} (empty)")
            return arrays
        if not isinstance(loaded, np.ndarray):
            raise ValueError(f"not an array but {type(loaded).__name__}")
        return loaded
    except MaskcheckError:
        raise
    except Exception as exc:
        reason = " ".join(str(exc).split())[:200] or type(exc).__name__
        raise MaskcheckError(argument, "a readable .npy or .npz file", f"{path!r} ({reason})") from None


def _load_model(path: str, custom: list[str], unsafe: bool = False) -> Any:
    import importlib

    from maskcheck.errors import MaskcheckError

    objects: dict[str, Any] = {}
    if custom and os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.insert(0, os.getcwd())  # `maskcheck` the script does not put the cwd on sys.path
    for spec in custom:
        mod_name, _, attr = spec.partition(":")
        if not mod_name:
            raise MaskcheckError("--custom-objects", "module:NAME or module", repr(spec))
        try:
            mod = importlib.import_module(mod_name)
        except Exception as exc:
            raise MaskcheckError(
                "--custom-objects",
                "an importable module or module:NAME",
                f"{spec!r} ({type(exc).__name__}: {exc})",
            ) from None
        if attr:
            if not hasattr(mod, attr):
                raise MaskcheckError("--custom-objects", f"a name defined in {mod_name}", repr(attr))
            objects[attr] = getattr(mod, attr)
        else:
            objects.update(
                {k: v for k, v in vars(mod).items() if not k.startswith("_") and isinstance(v, type)}
            )
    if not os.path.isfile(path):
        what = "a directory" if os.path.isdir(path) else "no such file"
        raise MaskcheckError("MODEL", "an existing .keras file", f"{path!r} ({what})")
    import zipfile

    if path.endswith(".keras") and not zipfile.is_zipfile(path):
        raise MaskcheckError(
            "MODEL", "a .keras file saved with model.save()", f"{path!r} (not a zip archive)"
        )
    _quiet_keras()
    from maskcheck.bridge import keras

    try:
        if unsafe:
            return keras.models.load_model(
                path, custom_objects=objects or None, compile=True, safe_mode=False
            )
        return keras.models.load_model(path, custom_objects=objects or None, compile=True)
    except Exception as exc:
        text = " ".join(re.sub(r"\x1b\[[0-9;]*m", "", str(exc)).split())
        if not unsafe and "safe_mode" in text:
            raise MaskcheckError(
                "MODEL",
                "a model Keras loads in safe mode; it holds a Lambda layer (or other stored Python code) "
                "that safe mode refuses. If you made or trust the file, pass --unsafe-load (it runs the "
                "code stored in the file), or replace the Lambda by a registered custom layer",
                repr(path),
            ) from None
        first = (text[:300] + "...") if len(text) > 300 else (text or type(exc).__name__)
        raise MaskcheckError(
            "MODEL",
            "a loadable .keras model (custom layers need --custom-objects module:NAME)",
            f"{path!r} ({first})",
        ) from None


_POSITIONAL = re.compile(r"arr_(\d+)")


def _positional(arrays: Any, names: list[Any]) -> Any:
    """An .npz saved positionally (`np.savez(f, X1, X2)`: keys arr_0, arr_1, ...) as a list in
    the model's input (or output) order; an .npz keyed by name is left as it is."""
    if not isinstance(arrays, dict) or len(names) < 2 or any(k in names for k in arrays):
        return arrays
    index = {int(m.group(1)): k for k in arrays if (m := _POSITIONAL.fullmatch(k))}
    if len(index) != len(arrays) or sorted(index) != list(range(len(arrays))):
        return arrays
    return [arrays[index[i]] for i in range(len(arrays))]


def _check_writable(path: str, flag: str) -> None:
    """Refuse an output path that cannot be written, before the (slow) audit runs. Nothing is created."""
    from maskcheck.errors import MaskcheckError

    parent = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        reason = "a directory"
    elif not os.path.isdir(parent):
        reason = f"no such directory {parent!r}"
    elif os.path.exists(path) and not os.access(path, os.W_OK):
        reason = "permission denied"
    elif not os.path.exists(path) and not os.access(parent, os.W_OK | os.X_OK):
        reason = f"permission denied in {parent!r}"
    else:
        return
    raise MaskcheckError(flag, "a writable file path", f"{path!r} ({reason})")


def _cli_argument(argument: str, args: argparse.Namespace) -> str:
    """Name `audit`'s arguments X / y / sample_weight as the flags and files they came from."""
    for name, flag, path in (
        ("X", "--data", args.data),
        ("y", "--labels", args.labels),
        ("sample_weight", "--sample-weight", args.sample_weight),
    ):
        if argument == name or argument.startswith(name + "["):
            return f"{flag} {path}{argument[len(name) :]}"
    return argument


def _audit(args: argparse.Namespace) -> int:
    from maskcheck.errors import MaskcheckError
    from maskcheck.settings import load_settings

    flags = {
        "format": args.format,
        "min_severity": args.min_severity,
        "ignore": args.ignore,
        "select": args.select,
        "max_samples": args.max_samples,
        "time_budget": args.time_budget,
    }
    settings = load_settings().merge(
        flags, lambda key: "--" + key.replace("_", "-"), source="command line", add_ignore=False
    )
    for flag, target in (("--output", args.output), ("--html", args.html)):
        if target:
            _check_writable(target, flag)
    X = _load_array(args.data, "--data")
    y = _load_array(args.labels, "--labels") if args.labels else None
    w = _load_array(args.sample_weight, "--sample-weight") if args.sample_weight else None
    model = _load_model(args.model, args.custom_objects, args.unsafe_load)
    X = _positional(X, [getattr(t, "name", None) for t in getattr(model, "inputs", None) or []])
    y = _positional(y, list(getattr(model, "output_names", None) or []))
    w = _positional(w, list(getattr(model, "output_names", None) or []))
    if isinstance(w, dict) and len(getattr(model, "outputs", None) or []) <= 1:
        if len(w) != 1:
            raise MaskcheckError(
                "--sample-weight", "one array for a single-output model", f"{len(w)} arrays in {args.sample_weight!r}"
            )
        w = next(iter(w.values()))
    if isinstance(X, dict) and len(getattr(model, "inputs", None) or []) <= 1:
        if len(X) != 1:
            raise MaskcheckError(
                "--data", "one array for a single-input model", f"{len(X)} arrays in {args.data!r}"
            )
        X = next(iter(X.values()))
    if isinstance(y, dict) and len(getattr(model, "outputs", None) or []) <= 1:
        if len(y) != 1:
            raise MaskcheckError(
                "--labels", "one array for a single-output model", f"{len(y)} arrays in {args.labels!r}"
            )
        y = next(iter(y.values()))
    from maskcheck import audit

    try:
        report = audit(
            model,
            X,
            y,
            sample_weight=w,
            max_samples=settings.max_samples,
            time_budget=settings.time_budget,
            ignore=settings.ignore,
            select=settings.select,
            progress=False if args.quiet else None,
        )
    except MaskcheckError as exc:
        raise MaskcheckError(_cli_argument(exc.argument, args), exc.expected, exc.got) from None
    text = _render(report, settings.format, args.model)
    if args.output:
        try:
            with open(args.output, "w", encoding="utf-8") as fh:
                fh.write(text + "\n")
        except OSError as exc:
            raise MaskcheckError(
                "--output", "a writable file path", f"{args.output!r} ({exc.strerror})"
            ) from None
    else:
        print(text)
    if args.html:
        try:
            with open(args.html, "w", encoding="utf-8") as fh:
                fh.write(report.to_html())
        except OSError as exc:
            raise MaskcheckError(
                "--html", "a writable file path", f"{args.html!r} ({exc.strerror})"
            ) from None
    return EXIT_FINDINGS if settings.failing(report) else EXIT_CLEAN


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
