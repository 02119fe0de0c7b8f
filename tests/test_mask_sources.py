"""Mask sources beyond the top-level Keras mask (issue 12 items 7, 8, 12): nested Embeddings,
explicit padding-mask inputs, and the mask map drawn from them."""

from __future__ import annotations

import numpy as np

import maskcheck
from maskcheck import testing as t
from maskcheck.facts.layout import mask_sources
from maskcheck.report import MaskState


def test_nested_embedding_is_the_source_of_its_input() -> None:
    case = t.padding.nested_embedding(masked=False)
    (src,) = mask_sources(case.model)
    assert src is not None and src.name == case.model.layers[1].token_emb.name  # not the position table


def test_mask_map_draws_an_explicit_padding_mask() -> None:
    case = t.padding.ids_and_padding_mask()
    report = maskcheck.audit(case.model, case.X)
    states = np.array(report.mask_map)
    pads = case.X["token_ids"] == 0
    assert states.shape == pads.shape
    assert (states[pads] == MaskState.PADDED).all() and (states[~pads] == MaskState.REAL).all()


def test_mask_map_shows_the_padding_a_mask_of_ones_lets_through() -> None:
    case = t.padding.ids_and_padding_mask(mask="ones")
    report = maskcheck.audit(case.model, case.X)
    states = np.array(report.mask_map)
    assert (states[case.X["token_ids"] == 0] == MaskState.UNMASKED_PAD).all()
    assert report.codes[0] == "MC212"


def test_only_the_unmasked_decoder_embedding_is_reported() -> None:
    case = t.padding.encoder_decoder_ids(decoder_mask_zero=False)
    report = maskcheck.audit(case.model, case.X)
    found = [f for f in report.findings if f.code == "MC207"]
    assert len(found) == 1 and "decoder_ids" in found[0].message


def test_padding_never_masked_is_an_error_only_when_another_input_is_masked() -> None:
    alone = t.padding.unmasked_floats()
    beside = t.padding.unmasked_floats(masked_other=True)
    sev = {
        name: [str(f.severity) for f in maskcheck.audit(c.model, c.X).findings if f.code == "MC211"]
        for name, c in (("alone", alone), ("beside", beside))
    }
    assert sev == {"alone": ["warning"], "beside": ["error"]}
