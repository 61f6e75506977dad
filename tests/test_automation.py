"""Morph amounts and automation curves as written on the command line."""

from __future__ import annotations

import pytest

from musicvae.automation import parse_morph
from musicvae.errors import InputError


def test_parse_morph():
    assert parse_morph("0.3")(10.0) == pytest.approx(0.3)
    curve = parse_morph("0:0,4:1")
    assert [curve(t) for t in (-1, 0, 2, 4, 9)] == pytest.approx([0, 0, 0.5, 1, 1])
    assert curve.end == 4.0 and not curve.constant and parse_morph("0.3").constant
    for bad in ("1.5", "0:0,4", "loud"):
        with pytest.raises(InputError, match="--morph"):
            parse_morph(bad)
