"""The real-model zoo (issue 12): maskcheck must agree with a ground truth decided without it.

For every zoo model (tests/zoo/models.py), first the oracle (tests/zoo/oracle.py) must call the
correct variant correct and the broken one leaking: that validates the zoo itself. Then
`maskcheck.audit` must report no error on a correct model, and at least one error on a broken one,
with the root cause first where it is known.

Where maskcheck today raises a false error or misses the cause, the case is a strict xfail naming
the issue-12 item that fixes it: those xfails are the to-do list.
"""

from __future__ import annotations

import pytest

import maskcheck
from zoo import models as M
from zoo import oracle as O

ITEM3 = "item 3: MC305/MC306 on an encoder-decoder whose source and target have the same length"
ITEM4 = "item 4: MC305 on a causal LM with sample_weight = padding_mask whose pad token is its end token"
ITEM7 = "item 7: Embedding without mask_zero nested in a custom layer is invisible, MC207 not reported"
ITEM8_212 = "item 8: explicit padding_mask not checked against the ids (MC212)"
ITEM8_104 = "item 8: padding_mask is no mask source, so pooling over the padding (MC104) goes unseen"
ITEM9 = "item 9: no mask source at all and outputs depend on the padding (MC211)"
ITEM10 = "item 10: the consequence (MC305) is reported, not the root cause first"

ITEM8_207 = "item 8: MC207 on T5, whose padding is masked by its explicit padding_mask input"

# False errors on correct models, today.
FALSE_ERRORS: dict[str, str] = {
    "hub:t5:correct": ITEM8_207,
    "gpt2lm:correct": ITEM4,
    "kio_nmt_transformer:correct": ITEM3,
    "kio_lstm_seq2seq:correct": ITEM3,
}
# Broken models whose root cause is missed (or not first), today.
MISSES: dict[str, str] = {}
for _n in M.HUB_BACKBONES:
    MISSES[f"hub:{_n}:ones_mask"] = ITEM8_212
    MISSES[f"hub:{_n}:max_head"] = ITEM8_104
MISSES.update(
    {
        "kio_text_classification_transformer:broken": f"{ITEM7} (no error at all)",
        "kio_ner_transformers:broken": f"{ITEM7}; {ITEM10}",
        "kio_nmt_transformer:broken": f"{ITEM7}; {ITEM10}",
        "kio_lstm_seq2seq:broken": f"{ITEM9}; {ITEM10}",
        "kio_miniature_gpt:broken": f"{ITEM7}; {ITEM10}",
    }
)

NEEDS_HUB = ("hub:", "gpt2lm:", "kio_fnet_classification:")


def _case(key: str) -> M.ZooCase:
    if key.startswith(NEEDS_HUB):
        pytest.importorskip("keras_hub")
    return M.build(key)


def _audit_params() -> list[object]:
    out: list[object] = []
    for key in M.case_ids():
        reason = FALSE_ERRORS.get(key) or MISSES.get(key)
        marks = [pytest.mark.xfail(strict=True, reason=f"issue 12 {reason}")] if reason else []
        out.append(pytest.param(key, marks=marks, id=key))
    return out


@pytest.mark.parametrize("key", M.case_ids())
def test_oracle_agrees_with_the_variant(key: str) -> None:
    case = _case(key)
    verdict = O.judge(case)
    expected = "correct" if case.variant == "correct" else "leaks"
    assert verdict.verdict == expected, f"{case.id} ({case.source}): oracle says {verdict}"


@pytest.mark.parametrize("key", _audit_params())
def test_maskcheck_agrees_with_the_oracle(key: str) -> None:
    case = _case(key)
    report = maskcheck.audit(case.model, case.X, case.y, **case.kwargs)
    errors = [f for f in report.findings if str(f.severity) == "error"]
    if case.variant == "correct":
        assert not errors, f"{case.id} ({case.source}) is correct, yet:\n" + "\n".join(map(str, errors))
        return
    assert errors, f"{case.id} ({case.source}) leaks padding, yet no error:\n{report.to_text()}"
    if case.root is not None:
        first = report.findings[0].code
        assert first == case.root, f"{case.id}: expected {case.root} first, got {report.codes}"
