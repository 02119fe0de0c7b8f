"""The `maskcheck` command line (in-process through `maskcheck.cli.main`, plus one subprocess),
`[tool.maskcheck]` configuration and the progress bar (`keras.utils.Progbar`)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from maskcheck import testing as C
from maskcheck.bridge import keras
from maskcheck.checks import all_checks
from maskcheck.cli import main
from maskcheck.errors import MaskcheckError
from maskcheck.report import Severity
from maskcheck.settings import Settings, load_settings

layers = keras.layers


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """A correct and a broken saved model, and data files."""
    d = tmp_path_factory.mktemp("cli")
    C.masked_tagger().save(d / "ok.keras")
    broken = keras.Sequential(
        [C.seq_input(), layers.Masking(0.0), layers.Conv1D(4, 1), layers.LSTM(3)], name="broken"
    )
    broken.save(d / "bad.keras")
    x = C.padded_floats()
    np.save(d / "X.npy", x)
    np.save(d / "y.npy", C.step_labels(x, n_classes=2))
    np.savez(d / "X.npz", only=x)
    np.savez(d / "two.npz", a=x, b=x)
    empty_sample = x.copy()
    empty_sample[1] = 0.0  # one sample without a real step: MC205, a warning
    np.save(d / "X_empty_sample.npy", empty_sample)
    np.save(d / "X_2d.npy", x[:, :, 0])
    np.save(d / "X_text.npy", np.array([["a", "b"]]))
    (d / "junk.npy").write_text("not an array")
    (d / "junk.keras").write_text("not a model")
    return {p.name: str(p) for p in d.iterdir()}


@pytest.fixture(autouse=True)
def _isolated_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run every CLI test in an empty directory so no outer pyproject.toml configures it."""
    monkeypatch.chdir(tmp_path)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(err: str, *needles: str) -> None:
    lines = [line for line in err.splitlines() if line.strip()]
    assert "Traceback" not in err
    assert lines and lines[-1].startswith("maskcheck: error: "), err
    errors = [line for line in lines if line.startswith("maskcheck: error")]
    assert len(errors) == 1, err
    for needle in needles:
        assert needle in errors[0], errors[0]


# -- checks / explain -----------------------------------------------------------------------------


def test_checks_lists_the_catalogue(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "checks")
    assert code == 0 and err == ""
    for check in all_checks():
        line = next(line for line in out.splitlines() if line.startswith(check.code))
        assert check.name in line and str(check.severity) in line


def test_explain_shows_the_documentation(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "explain", "mc101")
    assert code == 0
    assert out.startswith("MC101 mask-dropped (error)")
    for title in ("What it does", "Why is this bad?", "Example", "Use instead"):
        assert f"## {title}" in out


def test_explain_unknown_code_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "explain", "MC999")
    assert code == 2 and out == ""
    assert_one_line_error(err, "MC999", "MC101")


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str], files: dict[str, str]) -> None:
    code, _, err = run(capsys, "audit", files["ok.keras"])  # --data is required
    assert code == 2 and "--data" in err and "Traceback" not in err
    code, _, err = run(capsys, "audit", files["ok.keras"], "--data", files["X.npy"], "--format", "xml")
    assert code == 2 and "invalid choice" in err
    code, _, err = run(capsys, "frobnicate")
    assert code == 2


def test_subprocess_checks() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "maskcheck", "checks"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
    )
    assert proc.returncode == 0, proc.stderr
    assert "MC101" in proc.stdout and "mask-dropped" in proc.stdout
    assert "Traceback" not in proc.stderr


# -- audit ---------------------------------------------------------------------------------------


def test_audit_clean_model_exits_0(capsys: pytest.CaptureFixture[str], files: dict[str, str]) -> None:
    code, out, _ = run(
        capsys, "audit", files["ok.keras"], "--data", files["X.npy"], "--labels", files["y.npy"]
    )
    assert code == 0, out
    assert "masking" in out and "0 error(s)" in out


def test_audit_broken_model_exits_1_with_json(
    capsys: pytest.CaptureFixture[str], files: dict[str, str]
) -> None:
    code, out, _ = run(capsys, "audit", files["bad.keras"], "--data", files["X.npz"], "--format", "json")
    assert code == 1
    doc = json.loads(out)
    assert doc["schema_version"] == 1 and doc["model"] == "broken" and doc["ok"] is False
    assert "MC101" in [f["code"] for f in doc["findings"]]


def test_audit_ignore_and_sarif_output_file(
    capsys: pytest.CaptureFixture[str], files: dict[str, str], tmp_path: Path
) -> None:
    target = tmp_path / "out.sarif"
    code, out, _ = run(
        capsys, "audit", files["bad.keras"], "--data", files["X.npy"], "--format", "sarif", "-o", str(target)
    )
    assert code == 1 and out == ""
    sarif = json.loads(target.read_text())
    assert sarif["version"] == "2.1.0"
    assert "MC101" in {r["ruleId"] for r in sarif["runs"][0]["results"]}
    # --ignore by prefix takes every MC1xx finding away
    code, out, _ = run(capsys, "audit", files["bad.keras"], "--data", files["X.npy"], "--ignore", "MC1")
    assert code == 0 and "MC101" not in out


def test_min_severity_threshold(capsys: pytest.CaptureFixture[str], files: dict[str, str]) -> None:
    args = ["audit", files["ok.keras"], "--data", files["X_empty_sample.npy"], "--select", "MC205"]
    code, out, _ = run(capsys, *args)
    assert code == 0 and "MC205" in out  # a warning does not reach the default threshold
    code, _, _ = run(capsys, *args, "--min-severity", "warning")
    assert code == 1


def test_quiet_flag_is_an_argument_not_an_env_var(
    capsys: pytest.CaptureFixture[str], files: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True, raising=False)  # a bar would draw
    before = dict(os.environ)
    code, _, err = run(capsys, "audit", files["ok.keras"], "--data", files["X.npy"], "--quiet")
    assert code == 0 and err == ""
    assert dict(os.environ) == before
    code, _, err = run(capsys, "audit", files["ok.keras"], "--data", files["X.npy"])
    assert code == 0 and "maskcheck: scanning X" in err


@pytest.mark.parametrize(
    ("argv", "needles"),
    [
        (["audit", "{ok.keras}", "--data", "missing.npy"], ["--data", "missing.npy", "no such file"]),
        (["audit", "missing.keras", "--data", "{X.npy}"], ["MODEL", "missing.keras"]),
        (["audit", "{junk.keras}", "--data", "{X.npy}"], ["MODEL", "not a zip archive"]),
        (["audit", "{ok.keras}", "--data", "{junk.npy}"], ["--data", "not a NumPy .npy or .npz file"]),
        (["audit", "{ok.keras}", "--data", "{X_2d.npy}"], ["--data", "X_2d.npy", "rank 3", "(8, 10)"]),
        (["audit", "{ok.keras}", "--data", "{X_text.npy}"], ["--data", "numeric"]),
        (["audit", "{ok.keras}", "--data", "{two.npz}"], ["--data", "one array for a single-input model"]),
        (["audit", "{ok.keras}", "--data", "{X.npy}", "--labels", "nolabels.npy"], ["--labels"]),
        (["audit", "{ok.keras}", "--data", "{X.npy}", "--max-samples", "0"], ["--max-samples"]),
        (["audit", "{ok.keras}", "--data", "{X.npy}", "--time-budget", "soon"], ["--time-budget", "'soon'"]),
        (["audit", "{ok.keras}", "--data", "{X.npy}", "--ignore", "104"], ["ignore", "'104'"]),
        (["audit", "{ok.keras}", "--data", "{X.npy}", "-o", "no/such/dir/out.txt"], ["--output"]),
        (["audit", "{ok.keras}", "--data", "."], ["--data", "a directory"]),
        (["audit", ".", "--data", "{X.npy}"], ["MODEL", "a directory"]),
    ],
    ids=[
        "missing-data",
        "missing-model",
        "junk-model",
        "junk-array",
        "wrong-rank",
        "text-array",
        "npz-two-arrays",
        "missing-labels",
        "max-samples-0",
        "time-budget-word",
        "bad-ignore",
        "unwritable-output",
        "directory-as-data",
        "directory-as-model",
    ],
)
def test_input_mistakes_are_one_line(
    capsys: pytest.CaptureFixture[str], files: dict[str, str], argv: list[str], needles: list[str]
) -> None:
    code, out, err = run(capsys, *[files[a[1:-1]] if a.startswith("{") else a for a in argv])
    assert code == 2 and out == ""
    assert_one_line_error(err, *needles)


def test_custom_objects(
    capsys: pytest.CaptureFixture[str], files: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    mod_dir = tmp_path / "mods"
    mod_dir.mkdir()
    (mod_dir / "mc_cli_custom_layers.py").write_text(
        textwrap.dedent(
            """
            import keras

            class Doubler(keras.layers.Layer):
                def __init__(self, **kwargs):
                    super().__init__(**kwargs)
                    self.supports_masking = True

                def call(self, x):
                    return x * 2.0
            """
        )
    )
    monkeypatch.syspath_prepend(str(mod_dir))
    monkeypatch.delitem(sys.modules, "mc_cli_custom_layers", raising=False)
    from mc_cli_custom_layers import Doubler  # type: ignore[import-not-found]

    model = keras.Sequential([C.seq_input(), layers.Masking(0.0), Doubler(), layers.LSTM(2)])
    path = str(tmp_path / "custom.keras")
    model.save(path)
    base = ["audit", path, "--data", files["X.npy"]]

    code, _, err = run(capsys, *base)
    assert code == 2
    assert_one_line_error(err, "MODEL", "--custom-objects")

    code, out, _ = run(capsys, *base, "--custom-objects", "mc_cli_custom_layers:Doubler")
    assert code == 0 and "Doubler" in out

    code, out, _ = run(capsys, *base, "--custom-objects", "mc_cli_custom_layers")
    assert code == 0 and "Doubler" in out

    code, _, err = run(capsys, *base, "--custom-objects", "mc_cli_custom_layers:Nope")
    assert code == 2
    assert_one_line_error(err, "--custom-objects", "Nope")

    code, _, err = run(capsys, *base, "--custom-objects", "no_such_module_xyz:Doubler")
    assert code == 2
    assert_one_line_error(err, "--custom-objects", "no_such_module_xyz")


def test_positional_npz_is_taken_in_input_order(
    capsys: pytest.CaptureFixture[str], files: dict[str, str], tmp_path: Path
) -> None:
    """`np.savez(f, X1, X2)` names the arrays arr_0, arr_1: they are the model's inputs in order."""
    a = keras.Input((10, 3), name="first")
    b = keras.Input((10, 2), name="second")
    out = layers.LSTM(2)(layers.Concatenate()([layers.Masking(0.0)(a), layers.Masking(0.0)(b)]))
    keras.Model([a, b], out).save(tmp_path / "two_in.keras")
    x = C.padded_floats()
    np.savez(tmp_path / "pos.npz", x, x[..., :2])
    code, out_text, err = run(
        capsys, "audit", str(tmp_path / "two_in.keras"), "--data", str(tmp_path / "pos.npz")
    )
    assert code in (0, 1) and "Traceback" not in err, err
    assert "maskcheck report" in out_text


def test_positional_npz_labels_are_taken_in_output_order(
    capsys: pytest.CaptureFixture[str], files: dict[str, str], tmp_path: Path
) -> None:
    """`np.savez(f, y1, y2)` for a two-output model: arr_0, arr_1 are the outputs in order."""
    inp = C.seq_input()
    h = layers.LSTM(4, return_sequences=True)(layers.Masking(0.0)(inp))
    a = layers.Dense(2, activation="softmax", name="tags")(h)
    b = layers.Dense(3, activation="softmax", name="other")(h)
    model = keras.Model(inp, [a, b])
    model.compile(
        loss=["sparse_categorical_crossentropy", "sparse_categorical_crossentropy"], optimizer="sgd"
    )
    model.save(tmp_path / "two_out.keras")
    x = C.padded_floats()
    y = C.step_labels(x, n_classes=1)
    np.savez(tmp_path / "ys.npz", y, y)
    code, out_text, err = run(
        capsys,
        "audit",
        str(tmp_path / "two_out.keras"),
        "--data",
        files["X.npy"],
        "--labels",
        str(tmp_path / "ys.npz"),
    )
    assert code in (0, 1) and "Traceback" not in err, err
    assert "maskcheck report" in out_text


def test_output_paths_are_checked_before_the_audit(
    capsys: pytest.CaptureFixture[str], files: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import maskcheck

    def no_audit(*args: object, **kwargs: object) -> None:
        raise AssertionError("the audit ran before the output path was checked")

    monkeypatch.setattr(maskcheck, "audit", no_audit)
    code, out, err = run(
        capsys, "audit", files["ok.keras"], "--data", files["X.npy"], "--html", "no/such/dir/r.html"
    )
    assert code == 2 and out == ""
    assert_one_line_error(err, "--html", "no such directory")
    code, out, err = run(capsys, "audit", files["ok.keras"], "--data", files["X.npy"], "--html", ".")
    assert code == 2 and out == ""
    assert_one_line_error(err, "--html", "a directory")


def test_lambda_model_needs_an_explicit_unsafe_load(
    capsys: pytest.CaptureFixture[str], files: dict[str, str], tmp_path: Path
) -> None:
    model = keras.Sequential(
        [C.seq_input(), layers.Masking(0.0), layers.Lambda(lambda t: t * 2.0), layers.LSTM(2)]
    )
    path = str(tmp_path / "lambda.keras")
    model.save(path)
    code, out, err = run(capsys, "audit", path, "--data", files["X.npy"])
    assert code == 2 and out == ""
    assert_one_line_error(err, "MODEL", "--unsafe-load", "Lambda")
    assert "--custom-objects" not in err
    code, out, err = run(capsys, "audit", path, "--data", files["X.npy"], "--unsafe-load")
    assert code in (0, 1) and "Lambda" in out, err


def test_unsafe_load_help_states_the_risk(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "audit", "--help")
    assert code == 0
    assert "--unsafe-load" in out and "arbitrary" in " ".join(out.split())


# -- [tool.maskcheck] ----------------------------------------------------------------------------


def write_pyproject(where: Path, body: str) -> None:
    (where / "pyproject.toml").write_text("[tool.maskcheck]\n" + textwrap.dedent(body))


def test_config_is_read_and_flags_win(
    capsys: pytest.CaptureFixture[str], files: dict[str, str], tmp_path: Path
) -> None:
    write_pyproject(tmp_path, 'ignore = ["MC1"]\nformat = "json"\nmax_samples = 4\n')
    args = ["audit", files["bad.keras"], "--data", files["X.npy"]]
    code, out, _ = run(capsys, *args)
    doc = json.loads(out)  # format from the config
    assert code == 0
    assert not [f for f in doc["findings"] if f["code"].startswith("MC1")]
    assert doc["meta"]["samples_traced"] == 4  # max_samples from the config
    code, out, _ = run(capsys, *args, "--ignore", "MC2", "--format", "text", "--max-samples", "8")
    assert code == 1  # --ignore replaces the configured ignore list
    assert "MC101 mask-dropped" in out and "(8 sequences traced)" in out


def test_time_budget_flag_and_config(
    capsys: pytest.CaptureFixture[str], files: dict[str, str], tmp_path: Path
) -> None:
    """A tiny budget traces the pilot's sequences only; "none" in the config lifts it again."""
    n = 20
    np.save(tmp_path / "X20.npy", C.padded_floats(n=n))
    args = ["audit", files["bad.keras"], "--data", str(tmp_path / "X20.npy"), "--format", "json"]
    doc = json.loads(run(capsys, *args, "--time-budget", "1e-9")[1])
    assert doc["meta"]["samples_traced"] < n and doc["meta"]["time_budget"] == 1e-9
    assert any("time_budget" in note for note in doc["notes"])
    write_pyproject(tmp_path, 'time_budget = "none"\n')
    doc = json.loads(run(capsys, *args)[1])
    assert doc["meta"]["samples_traced"] == n and doc["meta"]["time_budget"] is None


def test_sample_weights_per_output_from_an_npz(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """--sample-weight takes an .npz with one array per output, by output name or positionally."""
    from tests.test_model_kinds import two_head_data, unmasked_two_heads

    x, y = two_head_data()
    unmasked_two_heads().save(tmp_path / "two.keras")
    np.save(tmp_path / "x.npy", x)
    np.savez(tmp_path / "y.npz", **y)
    real = (x != 0).astype("float32")
    np.savez(tmp_path / "w.npz", tags=real, cls=np.ones(12, "float32"))
    np.savez(tmp_path / "w_positional.npz", np.ones(12, "float32"), real)  # Keras' key order: cls, tags
    np.savez(tmp_path / "w_ones.npz", tags=np.ones((12, 10), "float32"))
    args = ["audit", str(tmp_path / "two.keras"), "--data", str(tmp_path / "x.npy"), "--labels", str(tmp_path / "y.npz")]
    for weights, fires in (("w.npz", False), ("w_positional.npz", False), ("w_ones.npz", True)):
        _, out, err = run(capsys, *args, "--sample-weight", str(tmp_path / weights), "--format", "json")
        codes = [f["code"] for f in json.loads(out)["findings"]]
        assert ("MC305" in codes) == fires, (weights, codes, err)


def test_config_in_a_parent_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_pyproject(tmp_path, 'ignore = "MC104, MC3"\nmin_severity = "warning"\n')
    sub = tmp_path / "a" / "b"
    sub.mkdir(parents=True)
    monkeypatch.chdir(sub)
    assert load_settings() == Settings(ignore=("MC104", "MC3"), min_severity=Severity.WARNING)


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ("colour = 1\n", "unknown ['colour']"),
        ('min_severity = "fatal"\n', "min_severity"),
        ("max_samples = 0\n", "max_samples"),
        ('format = "xml"\n', "format"),
        ("ignore = 3\n", "ignore"),
        ("ignore = [\n", "valid TOML"),
    ],
)
def test_bad_config_is_one_line(
    capsys: pytest.CaptureFixture[str], files: dict[str, str], tmp_path: Path, body: str, needle: str
) -> None:
    write_pyproject(tmp_path, body)
    with pytest.raises(MaskcheckError, match=r"pyproject\.toml"):
        load_settings()
    code, _, err = run(capsys, "audit", files["ok.keras"], "--data", files["X.npy"])
    assert code == 2
    assert_one_line_error(err, needle)


def test_pyproject_without_the_table_means_defaults(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\n')
    assert load_settings(tmp_path) == Settings()


# -- progress ------------------------------------------------------------------------------------


def test_progress_is_a_keras_progbar_on_stderr(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from maskcheck import audit

    model, x = C.masked_tagger(), C.padded_floats(n=8)
    audit(model, x, progress=True)
    out, err = capsys.readouterr()
    assert out == ""  # stdout carries reports (`--format json > report.json`), never the bar
    assert "maskcheck: scanning X" in err and "8/8" in err
    audit(model, x, progress=False)
    assert capsys.readouterr() == ("", "")


def test_progress_default_follows_stderr_being_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    from maskcheck.settings import progress_enabled

    monkeypatch.setattr(sys.stderr, "isatty", lambda: False, raising=False)
    assert progress_enabled(None) is False and progress_enabled(True) is True
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True, raising=False)
    assert progress_enabled(None) is True and progress_enabled(False) is False
    with pytest.raises(MaskcheckError, match=r"^progress: expected"):
        progress_enabled("yes")
