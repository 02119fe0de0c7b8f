"""Produce docs/support-matrix.md by running maskcheck, not by hand.

    python docs/support_matrix.py --json rows.json          # every backend importable here
    python docs/support_matrix.py --render rows.json docs/support-matrix.md

For each backend (a subprocess per backend, KERAS_BACKEND set) and each model kind (Sequential,
Functional, nested, subclassed, and tf_keras when installed) it audits a correctly masked tagger
(must give no error finding) and the same model with a Conv1D between Masking and the LSTM (must
give MC101). Run it again under another Keras version with the same --json file to add rows.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

KINDS = ["Sequential", "Functional", "nested", "subclassed"]


def _probe(kind: str) -> dict[str, Any]:
    import warnings

    warnings.filterwarnings("ignore")
    import numpy as np

    import maskcheck
    from maskcheck.synth import padded_floats

    legacy = kind == "tf_keras Sequential"
    if legacy:
        import tf_keras as keras
    else:
        from maskcheck.bridge import keras
    L = keras.layers
    x = padded_floats(n=16)

    def body(broken: bool) -> list[Any]:
        return [L.Conv1D(4, 1)] if broken else []

    def build(broken: bool) -> Any:
        if kind in ("Sequential", "tf_keras Sequential"):
            return keras.Sequential(
                [
                    keras.Input((10, 3)),
                    L.Masking(0.0),
                    *body(broken),
                    L.LSTM(4, return_sequences=True),
                    L.Dense(2),
                ]
            )
        if kind == "Functional":
            inp = keras.Input((10, 3))
            h = L.Masking(0.0)(inp)
            for layer in body(broken):
                h = layer(h)
            return keras.Model(inp, L.Dense(2)(L.LSTM(4, return_sequences=True)(h)))
        if kind == "nested":
            inner = keras.Sequential([*body(broken), L.LSTM(4, return_sequences=True), L.Dense(2)])
            inp = keras.Input((10, 3))
            return keras.Model(inp, inner(L.Masking(0.0)(inp)))

        class Tagger(keras.Model):
            def __init__(self) -> None:
                super().__init__()
                self.mask = L.Masking(0.0)
                self.body = body(broken)
                self.rnn = L.LSTM(4, return_sequences=True)
                self.head = L.Dense(2)

            def call(self, t: Any) -> Any:
                h = self.mask(t)
                for layer in self.body:
                    h = layer(h)
                return self.head(self.rnn(h))

        model = Tagger()
        model(x[:2])
        return model

    ok = maskcheck.audit(build(False), x)
    bad = maskcheck.audit(build(True), x)
    passed = ok.ok and "MC101" in bad.codes
    return {
        "backend": keras.backend.backend() if not legacy else "tensorflow",
        "keras": f"{ok.meta['keras_package']} {ok.meta['keras']}",
        "kind": kind,
        "correct model quiet": ok.ok,
        "drop found (MC101)": "MC101" in bad.codes,
        "passed": bool(passed),
        "layers traced": len(ok.layers),
        "numpy": np.__version__,
    }


def _child(kinds: list[str]) -> None:
    rows = []
    for kind in kinds:
        try:
            rows.append(_probe(kind))
        except Exception as exc:  # a failure is a row too
            rows.append({"kind": kind, "passed": False, "error": f"{type(exc).__name__}: {exc}"[:200]})
    print(json.dumps(rows))


def collect(path: Path) -> None:
    rows = json.loads(path.read_text()) if path.exists() else []
    for backend in ("tensorflow", "jax", "torch"):
        kinds = list(KINDS)
        if backend == "tensorflow":
            try:
                import tf_keras  # noqa: F401

                kinds.append("tf_keras Sequential")
            except ImportError:
                pass
        env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3"}
        proc = subprocess.run(
            [sys.executable, __file__, "--child", *kinds],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode != 0:
            print(
                f"{backend}: not available ({proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else proc.returncode})"
            )
            continue
        new = json.loads(proc.stdout.strip().splitlines()[-1])
        for row in new:
            row.setdefault("backend", backend)
        keys = {(r.get("backend"), r.get("keras"), r.get("kind")) for r in new}
        rows = [r for r in rows if (r.get("backend"), r.get("keras"), r.get("kind")) not in keys] + new
        print(f"{backend}: {sum(r['passed'] for r in new)}/{len(new)} passed")
    path.write_text(json.dumps(rows, indent=1))


def render(rows_path: Path, out: Path) -> None:
    rows = json.loads(rows_path.read_text())
    lines = [
        "# Support matrix",
        "",
        "Produced by `docs/support_matrix.py`, which audits, for every backend and model kind, a",
        "correctly masked tagger (must give no error finding) and the same model with a `Conv1D`",
        "between `Masking` and the LSTM (must give MC101). CI runs the backend-marked test subset",
        "on the same combinations.",
        "",
        "| backend | Keras | model kind | correct model quiet | drop found (MC101) | result |",
        "|---|---|---|---|---|---|",
    ]
    for r in sorted(rows, key=lambda r: (r.get("keras", ""), r.get("backend", ""), r.get("kind", ""))):
        mark = "pass" if r.get("passed") else f"FAIL {r.get('error', '')}"
        lines.append(
            f"| {r.get('backend', '?')} | {r.get('keras', '?')} | {r['kind']} | "
            f"{'yes' if r.get('correct model quiet') else 'no'} | {'yes' if r.get('drop found (MC101)') else 'no'} | {mark} |"
        )
    out.write_text("\n".join(lines) + "\n")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--child", nargs="+")
    ap.add_argument("--json", type=Path)
    ap.add_argument("--render", nargs=2, type=Path)
    args = ap.parse_args()
    if args.child:
        _child(args.child)
    elif args.json:
        collect(args.json)
    elif args.render:
        render(*args.render)
    else:
        ap.error("give --json FILE or --render FILE OUT")


if __name__ == "__main__":
    main()
