"""Pictures: the mask map (`maskcheck.facts.mask_map.mask_map`), `Report.plot()` (SVG), `Report.to_html()`,
`Report._repr_html_` and `maskcheck audit --html`."""

from __future__ import annotations

import dataclasses
import json
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import maskcheck
from maskcheck import engine
from maskcheck import testing as C
from maskcheck.bridge import keras
from maskcheck.cli import main
from maskcheck.facts import mask_map as mask_map_module
from maskcheck.facts.context import AuditContext
from maskcheck.facts.mask_map import MAX_ROWS, mask_map
from maskcheck.facts.steps import steps_equal
from maskcheck.render import columns
from maskcheck.render import svg as mh
from maskcheck.render.elements import to_xml
from maskcheck.render.text import layer_table
from maskcheck.report import Finding, LayerTrace, MaskState, Report, Role, Severity

layers = keras.layers
S = "{" + mh.SVG_NS + "}"
STATE_COLOUR = {state: swatch.colour for state, swatch in mh.STATES.items()}


def audited(model: Any, X: Any, y: Any = None) -> Report:
    """Audit, keep the AuditContext the engine built, and put `mask_map(ctx)` into the report."""
    captured: list[AuditContext] = []
    real = engine.AuditContext

    def capture(*args: Any, **kwargs: Any) -> AuditContext:
        ctx = real(*args, **kwargs)
        captured.append(ctx)
        return ctx

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(engine, "AuditContext", capture)
        report = maskcheck.audit(model, X, y, perturb=False)
    ctx = captured[-1]
    rows = mask_map(ctx)
    if report.mask_map is not None:  # once the engine fills the field itself
        assert report.mask_map == rows
    return dataclasses.replace(report, mask_map=rows)


def masked_lstm(t: int = 10, f: int = 3) -> keras.Model:
    return keras.Sequential([keras.Input((t, f)), layers.Masking(0.0), layers.LSTM(3)])


def lengths(x: np.ndarray, pad: float = 0.0) -> np.ndarray:
    real = ~np.all(x == pad, axis=-1)
    return real.sum(axis=1)


# -- the mask map -------------------------------------------------------------------------------


def test_post_padded_masked_steps_are_padded() -> None:
    x = C.padded_floats()
    report = audited(masked_lstm(), x)
    expected = [[0] * n + [1] * (10 - n) for n in lengths(x)]
    assert report.mask_map == expected


def test_pad_value_the_mask_misses_is_padded_not_masked() -> None:
    x = C.padded_floats(pad=-1.0)
    report = audited(masked_lstm(), x)
    expected = [[0] * n + [2] * (10 - n) for n in lengths(x, pad=-1.0)]
    assert report.mask_map == expected
    assert "MC203" in report.codes


def test_without_any_mask_padding_is_not_masked() -> None:
    x = C.padded_floats()
    report = audited(keras.Sequential([C.seq_input(), layers.LSTM(3)]), x)
    assert report.mask_map == [[0] * n + [2] * (10 - n) for n in lengths(x)]


def test_holes_and_pre_padding_with_embedding_ids() -> None:
    ids = C.padded_ids(side="pre")
    ids[0, 4] = 0  # sample 0 is full length: a real id 0 in the middle becomes a hole
    model = keras.Sequential(
        [keras.Input((10,), dtype="int32"), layers.Embedding(20, 4, mask_zero=True), layers.LSTM(3)]
    )
    report = audited(model, ids)
    rows = np.array(report.mask_map)
    assert rows.shape == ids.shape
    assert rows[0].tolist() == [0, 0, 0, 0, 3, 0, 0, 0, 0, 0]
    # the leading zeros of pre-padded samples are padding, not holes
    assert np.array_equal(rows[1:] == 1, ids[1:] == 0)
    assert set(np.unique(rows[1:])) <= {0, 1}


def test_misreshaped_padding_shows_part_pad_steps() -> None:
    from maskcheck.demo import broken_model, make_data

    data = make_data(n=32)
    report = audited(broken_model(), data.X_broken, data.y)
    assert "MC201" in report.codes
    rows = np.array(report.mask_map)
    full, partial, _ = steps_equal(data.X_broken, np.zeros(5))
    assert partial is not None
    assert np.array_equal(rows == 4, partial)  # the scattered steps
    assert np.array_equal(np.isin(rows, (1, 3)), full)  # Masking(0.) masks exactly the all-zero steps
    assert (rows == 3).any() and (rows == 1).any()


def test_at_most_64_rows_and_a_synthesized_probe() -> None:
    x = C.padded_floats(n=100)
    report = audited(masked_lstm(), x)
    assert report.mask_map is not None and len(report.mask_map) == MAX_ROWS
    probe = audited(masked_lstm(), None)
    assert probe.mask_map and set(np.unique(probe.mask_map)) <= {0, 1}  # no data, no pad checks


def test_mask_passed_by_hand_counts_as_the_mask() -> None:
    inp = keras.Input((10, 3))
    mask = layers.Masking(0.0).compute_mask(inp)
    out = layers.LSTM(3)(layers.Dense(4)(inp), mask=mask)
    x = C.padded_floats()
    report = audited(keras.Model(inp, out), x)
    assert report.mask_map == [[0] * n + [1] * (10 - n) for n in lengths(x)]


def test_a_failing_map_never_fails_the_audit(monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(ctx: Any, max_rows: int) -> list[list[int]]:
        raise RuntimeError("boom")

    monkeypatch.setattr(mask_map_module, "_mask_map", boom)
    ctx: Any = object()
    assert mask_map(ctx) == []
    with pytest.raises(RuntimeError):
        mask_map(ctx, strict=True)


# -- pictures of a report ---------------------------------------------------------------------


def row(path: str, cls: str, role: Role, mask_in: bool, mask_out: bool, **kw: Any) -> LayerTrace:
    return LayerTrace(
        path=path,
        class_name=cls,
        input_shape="(4, 6, 3)",
        output_shape="(4, 6, 3)",
        input_mask=mask_in,
        output_mask=mask_out,
        masked_share=0.25 if (mask_in or mask_out) else None,
        supports_masking=role is not Role.DROPS,
        role=role,
        **kw,
    )


MAP = [[0, 0, 0, 0, 1, 1], [0, 0, 3, 0, 0, 1], [0, 4, 0, 4, 2, 2], [0, 0, 0, 0, 0, 0]]


@pytest.fixture
def report() -> Report:
    return Report(
        model_name='tagger <&> "one"',
        layers=[
            row("masking", "Masking", Role.CREATES, False, True, symbolic_output_mask=True),
            row("conv1d", "Conv1D", Role.DROPS, True, False, symbolic_output_mask=False),
            row("lstm", "LSTM", Role.NONE, False, False),
            row("lstm/lstm_cell", "LSTMCell", Role.NONE, False, False, calls=7),
            row("pool", "GlobalAveragePooling1D", Role.CONSUMES, False, False, received_mask=True),
        ],
        findings=[
            Finding(
                "MC101",
                "mask-dropped",
                Severity.ERROR,
                "'conv1d' drops <the> mask & more",
                "use `Masking` later",
                layer="conv1d",
            ),
            Finding("MC202", "mask-covers-nothing", Severity.WARNING, "nothing", "pad at the end"),
        ],
        notes=["a note with `code`"],
        meta={"keras": "3.15.1", "backend": "tensorflow", "samples_traced": 4},
        mask_map=MAP,
    )


def parse_svg(text: str) -> ET.Element:
    root = ET.fromstring(text)
    assert root.tag == S + "svg"
    assert float(root.get("width", "0")) > 0 and float(root.get("height", "0")) > 0
    return root


def texts(root: ET.Element) -> str:
    return "\n".join("".join(el.itertext()) for el in root.iter(S + "text"))


def map_cells(root: ET.Element) -> list[ET.Element]:
    (group,) = [g for g in root.iter(S + "g") if g.get("class") == "mask-map"]
    return list(group.iter(S + "rect"))


def test_svg_is_well_formed_with_every_layer_and_finding(report: Report) -> None:
    svg = report.plot()
    root = parse_svg(svg)
    shown = texts(root)
    rows = {g.get("data-path"): g for g in root.iter(S + "g") if g.get("data-path") is not None}
    assert list(rows) == [t.path for t in report.layers]
    for t in report.layers:
        assert t.path in shown
    for f in report.findings:
        assert f.code in shown
    assert "MC101" in "".join(rows["conv1d"].itertext())  # the code tag sits on the layer's row
    assert "x7 calls" in "".join(rows["lstm/lstm_cell"].itertext())
    assert "graph says" not in shown  # graph and runtime agree on every row here
    assert 'tagger <&> "one"' in "".join(root.itertext())  # escaped, parsed back


def test_the_dropping_layer_is_highlighted(report: Report) -> None:
    root = parse_svg(report.plot())
    highlighted = [
        g.get("data-path")
        for g in root.iter(S + "g")
        if g.get("data-path") and any(r.get("class") == "drop-highlight" for r in g.iter(S + "rect"))
    ]
    assert highlighted == ["conv1d"]
    (drop_row,) = [g for g in root.iter(S + "g") if g.get("data-path") == "conv1d"]
    assert drop_row.get("data-role") == "drops"
    assert "drops" in (drop_row.get("class") or "")


def test_mask_map_colours_count_the_states(report: Report) -> None:
    root = parse_svg(report.plot())
    cells = map_cells(root)
    by_colour: dict[str, int] = {}
    for rect in cells:
        colour = rect.get("fill", "")
        by_colour[colour] = by_colour.get(colour, 0) + int(rect.get("data-steps", "0"))
        assert STATE_COLOUR[MaskState(int(rect.get("data-state", "-1")))] == colour
    counts = mh.state_counts(MAP)
    assert counts == {0: 16, 1: 3, 2: 2, 3: 1, 4: 2}
    assert by_colour == {STATE_COLOUR[s]: n for s, n in counts.items() if n}
    assert len({STATE_COLOUR[s] for s in counts}) == 5  # five distinct colours
    # the cells cover the grid: every row's runs add up to its steps
    per_row: dict[str, int] = {}
    for rect in cells:
        per_row[rect.get("y", "")] = per_row.get(rect.get("y", ""), 0) + int(rect.get("data-steps", "0"))
    assert sorted(per_row.values()) == [6, 6, 6, 6]
    legend = {
        int(g.get("data-state", "-1")): int(g.get("data-count", "-1"))
        for g in root.iter(S + "g")
        if g.get("class") == "legend" and g.get("data-state")
    }
    assert legend == counts


def test_long_sequences_are_drawn_in_buckets(report: Report) -> None:
    t = 1500
    wide = [[0] * 1000 + [1] * 499 + [2], [0] * t]
    root = parse_svg(dataclasses.replace(report, mask_map=wide).plot())
    cells = map_cells(root)
    size = -(-t // mh.MAX_COLUMNS)
    assert float(root.get("width", "0")) < 1400
    for y in {c.get("y") for c in cells}:
        assert sum(int(c.get("data-steps", "0")) for c in cells if c.get("y") == y) == t
    # a bucket with an unmasked pad step shows it (the most alarming state wins)
    last = max(cells, key=lambda c: float(c.get("x", "0")) if c.get("y") == cells[0].get("y") else -1)
    assert last.get("data-state") == "2" and int(last.get("data-steps", "0")) == size


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 70), st.integers(1, 700), st.integers(1, 50), st.integers(0, 2**32 - 1))
def test_any_map_draws_every_step_once(n: int, t: int, run: int, seed: int) -> None:
    """Random maps, from noise (run 1) to long runs of one state, up to 70 x 700 steps."""
    rng = np.random.default_rng(seed)
    states = rng.integers(0, 5, size=(n, -(-t // run)))
    rows = np.repeat(states, run, axis=1)[:, :t].tolist()
    panel = mh.mask_map_panel(rows, samples_traced=len(rows))
    root = parse_svg(to_xml(mh.svg([panel])))
    cells = map_cells(root)
    per_row: dict[str, int] = {}
    for rect in cells:
        per_row[rect.get("y", "")] = per_row.get(rect.get("y", ""), 0) + int(rect.get("data-steps", "0"))
        assert float(rect.get("x", "0")) + float(rect.get("width", "0")) <= 46 + 600 + 1e-6
    assert list(per_row.values()) == [t] * len(rows)
    legend = {
        int(g.get("data-state", "-1")): int(g.get("data-count", "-1"))
        for g in root.iter(S + "g")
        if g.get("class") == "legend" and g.get("data-state")
    }
    assert legend == mh.state_counts(rows)
    if t <= mh.MAX_COLUMNS:  # one column per step: the colours count the states exactly
        by_state: dict[int, int] = {}
        for rect in cells:
            state = int(rect.get("data-state", "-1"))
            by_state[state] = by_state.get(state, 0) + int(rect.get("data-steps", "0"))
        assert by_state == {s: n for s, n in mh.state_counts(rows).items() if n}


def test_report_without_a_map_still_draws(report: Report) -> None:
    root = parse_svg(dataclasses.replace(report, mask_map=None).plot())
    assert "no mask map" in texts(root)
    assert not [g for g in root.iter(S + "g") if g.get("class") == "mask-map"]
    empty = Report("m", [], [], mask_map=[])
    root = parse_svg(empty.plot())
    assert "No findings" in texts(root) and "no layer calls" in texts(root)


def test_plot_writes_the_file(report: Report, tmp_path: Path) -> None:
    out = tmp_path / "report.svg"
    svg = report.plot(str(out))
    assert out.read_text(encoding="utf-8") == svg


def parse_html(text: str) -> ET.Element:
    assert text.startswith("<!DOCTYPE html>\n")
    return ET.fromstring(text.split("\n", 1)[1])


def test_html_page_and_jupyter_fragment(report: Report) -> None:
    page = report.to_html()
    root = parse_html(page)
    assert root.tag == "html"
    svgs = list(root.iter(S + "svg"))
    assert len(svgs) == 2  # the mask map and the mask flow
    body = "".join(root.itertext())
    for t in report.layers:
        assert t.path in body
    for f in report.findings:
        assert f.code in body and f.fix.replace("`", "") in body
    findings = [d for d in root.iter("div") if d.get("data-code")]
    assert [d.get("data-code") for d in findings] == ["MC101", "MC202"]
    assert [c.text for c in root.iter("code")][:1] == ['tagger <&> "one"']
    fragment = report._repr_html_()
    assert fragment in page
    frag = ET.fromstring(fragment)
    assert frag.tag == "div" and frag.get("class") == "maskcheck-report"
    assert frag.find("style") is not None  # self-contained in a notebook
    drop_rows = [tr for tr in root.iter("tr") if tr.get("class") == "drops"]
    assert [tr.findtext("td") for tr in drop_rows] == ["conv1d"]


HOSTILE = """<script>alert("x")</script>&"'"""


def test_hostile_names_are_text_in_svg_and_html(report: Report) -> None:
    """A layer, model or finding text with markup in it comes back as text, never as elements."""
    layer = dataclasses.replace(report.layers[1], path=HOSTILE, class_name=HOSTILE)
    hostile = dataclasses.replace(
        report,
        model_name=HOSTILE,
        layers=[report.layers[0], layer],
        findings=[dataclasses.replace(report.findings[0], layer=HOSTILE, message=HOSTILE, fix=HOSTILE)],
        notes=[HOSTILE],
    )
    svg_root = parse_svg(hostile.plot())
    (drop_row,) = [g for g in svg_root.iter(S + "g") if g.get("data-role") == "drops"]
    assert drop_row.get("data-path") == HOSTILE
    assert HOSTILE in [el.text for el in drop_row.iter(S + "text")]
    assert HOSTILE in texts(svg_root)
    page = hostile.to_html()
    html_root = parse_html(page)
    for root in (svg_root, html_root):
        assert not [el for el in root.iter() if el.tag.rpartition("}")[2] == "script"]
    assert "<script>" not in page
    assert [tr.findtext("td") for tr in html_root.iter("tr") if tr.get("class") == "drops"] == [HOSTILE]
    assert html_root.findtext("head/title") == f"maskcheck report: {HOSTILE}"
    (finding,) = [d for d in html_root.iter("div") if d.get("data-code")]
    assert [c.text for c in finding.iter("code")] == [HOSTILE]
    assert HOSTILE in "".join(finding.itertext())


def test_the_text_and_html_tables_share_their_columns(report: Report) -> None:
    root = parse_html(report.to_html())
    (table,) = root.iter("table")
    assert [th.text for th in table.iter("th")] == columns.headers()
    body = [[td.text or "" for td in tr.iter("td")] for tr in table.iter("tr") if tr.find("td") is not None]
    assert body == columns.rows(report.layers)
    calls = [th for th in table.iter("th") if th.text == "calls"]
    assert [th.get("class") for th in calls] == ["right"]
    text = layer_table(report).splitlines()
    assert text[0].split() == " ".join(columns.headers()).split()
    assert text[2].split()[:2] == ["masking", "Masking"]
    assert text[5].rstrip().endswith(" 7")  # lstm/lstm_cell: x7 calls, right-aligned


def test_a_state_outside_mask_state_is_an_error(report: Report) -> None:
    with pytest.raises(ValueError, match="7 in the mask map is not a MaskState"):
        dataclasses.replace(report, mask_map=[[0, 1, 7]]).plot()


def test_json_carries_the_map(report: Report) -> None:
    doc = json.loads(report.to_json())
    assert doc["mask_map"] == MAP
    assert json.loads(dataclasses.replace(report, mask_map=None).to_json())["mask_map"] is None


def test_html_of_a_real_audit() -> None:
    model = keras.Sequential(
        [
            C.seq_input(),
            layers.Masking(0.0),
            layers.Conv1D(4, 3, padding="same", name="conv1d"),
            layers.LSTM(3),
        ],
        name="broken",
    )
    real = audited(model, C.padded_floats())
    root = parse_svg(real.plot())
    drops = [g.get("data-path") for g in root.iter(S + "g") if g.get("data-role") == "drops"]
    assert drops == ["conv1d"]
    assert {"MC101", "MC104"} <= set(real.codes)
    page = parse_html(real.to_html())
    assert {"MC101", "MC104"} <= {d.get("data-code") for d in page.iter("div")}


# -- the command line ---------------------------------------------------------------------------


@pytest.fixture
def saved(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, str]]:
    monkeypatch.chdir(tmp_path)  # no outer pyproject.toml configures the CLI
    model = keras.Sequential(
        [C.seq_input(), layers.Masking(0.0), layers.Conv1D(4, 1), layers.LSTM(3)], name="broken"
    )
    model.save(tmp_path / "bad.keras")
    np.save(tmp_path / "X.npy", C.padded_floats())
    yield str(tmp_path / "bad.keras"), str(tmp_path / "X.npy")


def test_cli_writes_an_html_report(
    saved: tuple[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model, data = saved
    out = tmp_path / "report.html"
    code = main(["audit", model, "--data", data, "--html", str(out), "--quiet"])
    assert code == 1
    assert "MC101" in capsys.readouterr().out  # the text report still goes to stdout
    root = parse_html(out.read_text(encoding="utf-8"))
    assert "MC101" in {d.get("data-code") for d in root.iter("div")}
    code = main(["audit", model, "--data", data, "--html", str(tmp_path / "no" / "dir.html"), "-q"])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("maskcheck: error: --html") and err.count("\n") == 1
