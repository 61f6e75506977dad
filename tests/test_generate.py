"""Whole-tune morphs (generate.morph_tune) and meters of the input, on tiny instruments and real MIDI files."""

import dataclasses

import numpy as np
import pretty_midi
import pytest

from musicvae import generate
from musicvae.builders import build_model
from musicvae.errors import InputError, MeterError
from musicvae.instrument import Instrument
from musicvae.kinds.melody.config import for_meter
from musicvae.midi.melody import FIRST_PITCH_CLASS, NO_EVENT
from tests.test_instrument import make_instrument, tiny


def write_tune(path, bars, *, root=60, meter=(4, 4), silent_bars=(), qpm=120.0):
    """``bars`` bars of quarter notes in ``meter`` (quarters a bar = 4 n / d), none in ``silent_bars``."""
    quarters = 4 * meter[0] / meter[1]
    midi = pretty_midi.PrettyMIDI(initial_tempo=qpm)
    midi.time_signature_changes.append(pretty_midi.TimeSignature(*meter, 0.0))
    inst = pretty_midi.Instrument(0)
    beat = 60.0 / qpm
    for bar in range(bars):
        if bar in silent_bars:
            continue
        for q in np.arange(0, quarters, 1.0):
            pitch = root + (bar * 2 + int(q)) % 12
            start = (bar * quarters + q) * beat
            inst.notes.append(pretty_midi.Note(velocity=90, pitch=int(pitch), start=start,
                                               end=start + min(0.75, quarters - q) * beat))
    midi.instruments.append(inst)
    midi.write(str(path))
    return path


@pytest.fixture(scope="module")
def instrument(tmp_path_factory):
    return Instrument.load(make_instrument(tmp_path_factory.mktemp("tune")))


def test_every_window_morphs_to_its_partner_at_the_steps_amount(tmp_path, instrument):
    a, b = write_tune(tmp_path / "a.mid", 8), write_tune(tmp_path / "b.mid", 8, root=67)
    result = generate.morph_tune(instrument, a, b, steps=5)
    assert result.steps.shape == (5, 8 * 16) and result.windows == 4 and result.warnings == []
    np.testing.assert_allclose(result.amounts, [0, 0.25, 0.5, 0.75, 1])
    # The batched decode is the same as morphing each window pair on its own.
    a_events, _ = generate.tune_events(instrument, a)
    b_events, _ = generate.tune_events(instrument, b)
    for k in range(4):
        window = slice(k * 32, (k + 1) * 32)
        alone = generate.interpolate(instrument, a_events[window], b_events[window], steps=5)
        np.testing.assert_array_equal(result.steps[:, window], alone, err_msg=f"window {k}")


def test_a_chosen_window_is_that_phrase_of_the_whole(tmp_path, instrument):
    a, b = write_tune(tmp_path / "a.mid", 8), write_tune(tmp_path / "b.mid", 8, root=55)
    whole = generate.morph_tune(instrument, a, b, steps=3)
    phrase = generate.morph_tune(instrument, a, b, steps=3, window=2)
    assert phrase.first_bar == 4 and phrase.windows == 1
    np.testing.assert_array_equal(phrase.steps, whole.steps[:, 64:96])
    with pytest.raises(InputError, match="--window 5: the tunes hold 4 windows of 2 bars"):
        generate.morph_tune(instrument, a, b, window=4)


def test_the_shorter_tune_sets_the_length_with_a_warning(tmp_path, instrument):
    a, b = write_tune(tmp_path / "a.mid", 16), write_tune(tmp_path / "b.mid", 3, root=64)
    result = generate.morph_tune(instrument, a, b, steps=2)
    assert result.steps.shape == (2, 3 * 16) and result.windows == 2  # bars 1-2, then bar 3 padded to a window
    assert any("a.mid is 16 bars, b.mid 3" in w and "keeps the shorter tune's 3 bars" in w for w in result.warnings)
    # The last window (bar 3 of both, padded with a rest bar) decodes like the windows padded by hand, cut back.
    (a_events, _), (b_events, _) = generate.tune_events(instrument, a), generate.tune_events(instrument, b)
    a_pad, b_pad = np.zeros(32, np.int64), np.zeros(32, np.int64)
    a_pad[:16], b_pad[:16] = a_events[32:48], b_events[32:48]
    alone = generate.interpolate(instrument, a_pad, b_pad, steps=2)
    np.testing.assert_array_equal(result.steps[:, 32:48], alone[:, :16])


def test_a_tune_shorter_than_one_window_is_padded(tmp_path, instrument):
    a, b = write_tune(tmp_path / "a.mid", 1), write_tune(tmp_path / "b.mid", 1, root=70)
    result = generate.morph_tune(instrument, a, b, steps=3)
    assert result.steps.shape == (3, 16) and result.windows == 1
    assert result.warnings == ["1 bars is shorter than the model's 2-bar window: padded with rests"]


def test_a_window_silent_in_both_tunes_stays_silent(tmp_path, instrument):
    a = write_tune(tmp_path / "a.mid", 6, silent_bars=(2, 3))
    b = write_tune(tmp_path / "b.mid", 6, root=65, silent_bars=(2, 3))
    result = generate.morph_tune(instrument, a, b, steps=3)
    assert (result.steps[:, 32:64] == NO_EVENT).all()
    assert (result.steps[:, :32] >= FIRST_PITCH_CLASS).any()


def test_two_four_tunes_pair_into_a_four_four_model(tmp_path, instrument):
    a = write_tune(tmp_path / "a.mid", 8, meter=(2, 4))
    b = write_tune(tmp_path / "b.mid", 4)
    result = generate.morph_tune(instrument, a, b, steps=2)
    assert result.steps.shape == (2, 4 * 16) and result.warnings == []  # 8 bars of 2/4 = 4 bars of 4/4


@pytest.mark.parametrize("meter", [(5, 4), (7, 8)])
def test_a_meter_no_shipped_instrument_takes_names_what_they_take(tmp_path, instrument, meter):
    odd = write_tune(tmp_path / "odd.mid", 4, meter=meter)
    with pytest.raises(MeterError) as caught:
        generate.morph_tune(instrument, odd, write_tune(tmp_path / "b.mid", 4))
    message = str(caught.value)
    name = f"{meter[0]}/{meter[1]}"
    assert f"{name} input: inst takes 4/4" in message and f"no shipped instrument takes {name}" in message
    assert "melody-2bar 4/4" in message and "\n" not in message


def test_a_meter_another_instrument_takes_is_named(tmp_path, monkeypatch, instrument):
    shelf = tmp_path / "shelf"
    waltz = dataclasses.replace(tiny(), model=dataclasses.replace(tiny().model, representation=for_meter("3/4")))
    Instrument(config=waltz, model=build_model(waltz)).save(shelf / "waltzer")
    make_instrument(shelf / "plain")  # a 4/4 one, saved as plain/inst
    monkeypatch.setenv("MUSICVAE_INSTRUMENTS", str(shelf))
    three = write_tune(tmp_path / "w.mid", 4, meter=(3, 4))
    with pytest.raises(MeterError, match=r"3/4 input: inst takes 4/4 .*; use waltzer \(3/4\)$"):
        generate.morph_tune(instrument, three, three)
    # The waltz instrument records its meter and takes the input: 12-step bars.
    assert 'meter = "3/4"' in (shelf / "waltzer" / "instrument.toml").read_text()
    result = generate.morph_tune(Instrument.load(shelf / "waltzer"), three, write_tune(tmp_path / "v.mid", 4,
                                                                                        meter=(3, 4), root=67))
    assert result.steps.shape == (5, 4 * 12) and result.windows == 2


def test_a_sixteen_bar_instrument_morphs_in_sixteen_bar_windows(tmp_path):
    instrument = Instrument.load(make_instrument(tmp_path, "16bar-hier-small"))
    a, b = write_tune(tmp_path / "a.mid", 20), write_tune(tmp_path / "b.mid", 20, root=62)
    result = generate.morph_tune(instrument, a, b, steps=3)
    assert result.steps.shape == (3, 20 * 16) and result.windows == 2  # bars 1-16, then 17-20 padded
    a_events, _ = generate.tune_events(instrument, a)
    b_events, _ = generate.tune_events(instrument, b)
    alone = generate.interpolate(instrument, a_events[:256], b_events[:256], steps=3)
    np.testing.assert_array_equal(result.steps[:, :256], alone)
