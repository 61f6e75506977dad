"""Held-note lengths, as ``evaluate`` measures them, on the shipped flute-guitar."""

from __future__ import annotations

import pytest

from musicvae.instrument import Instrument
from musicvae.kinds.timbre.held import TARGET_HOPS, held_note_lengths


@pytest.fixture(scope="module")
def flute_guitar():
    return Instrument.load("flute-guitar")


def test_sustaining_notes_are_measured_and_decaying_ones_left_out(flute_guitar):
    report = held_note_lengths(flute_guitar, ["flute", "guitar"], [60, 67, 76], held=3.0)
    # The guitar decays while looped: it has no sustain to fall from, and only the flute is measured.
    assert report["families"] == ["flute"] and report["notes"] == 3
    assert report["median_hops"] <= report["p95_hops"] <= report["max_hops"] <= TARGET_HOPS
    assert report["over_one_hop"] == 0 and report["worst"]["family"] == "flute"
    assert report["by_family"]["flute"] == pytest.approx(report["max_hops"], abs=1e-3)
    assert held_note_lengths(flute_guitar, ["guitar"], [60], held=3.0) == {"notes": 0, "families": [],
                                                                            "held_seconds": 3.0}
