"""Meters: bar lengths on the sixteenth grid, which input a model takes, and the codec in every meter.

Hand-written notes in each meter go through a real MIDI file (pretty_midi) and back;
transposing them transposes the events, and tempo (and a tempo change) leaves them as they are.
"""

import numpy as np
import pretty_midi
import pytest

from musicvae.errors import InputError, MeterError
from musicvae.midi.melody import StepNote, encode, events_to_midi, midi_file_events
from musicvae.midi.meter import bar_steps, parse_meter, taken_meters, takes
from musicvae.midi.windows import transpose

#: Each meter's bar in sixteenths (the codec's steps per bar).
BARS = {"4/4": 16, "2/4": 8, "3/4": 12, "6/8": 12, "7/8": 14, "5/4": 20, "2/2": 16, "12/8": 24}


@pytest.mark.parametrize("meter, steps", BARS.items())
def test_bar_steps(meter, steps):
    assert bar_steps(meter) == steps


def test_meters_that_do_not_fit_the_grid_or_do_not_parse():
    with pytest.raises(InputError, match="not a whole number"):
        bar_steps("5/32")
    with pytest.raises(InputError, match="not a whole number"):
        bar_steps("3/8", steps_per_whole_bar=4)  # an eighth-note grid... of quarters
    for text in ("3-4", "0/4", "free", ""):
        with pytest.raises(InputError):
            parse_meter(text)
    assert parse_meter("C") == (4, 4) and parse_meter("C|") == (2, 2)


def test_which_meters_a_model_takes():
    assert takes("4/4", "2/2") and takes("4/4", "C|") and not takes("4/4", "2/4")
    assert takes("4/4", "2/4", pair_two_four=True)
    assert takes("3/4", "3/4") and not takes("3/4", "6/8") and not takes("6/8", "3/4")
    assert not takes("3/4", "2/4", pair_two_four=True)  # pairing is for 4/4 models only
    assert taken_meters("4/4") == "4/4 bars (also 2/2, and 2/4 two bars to one)" and taken_meters("6/8") == "6/8 bars"


def write(path, notes, *, meter, qpm=120.0, tempo_change=None, signatures=None):
    """A one-track MIDI file written tick by tick with mido (480 ticks a quarter).

    notes: (pitch, start quarter, end quarter); signatures: [(n, d, quarter)] (default: ``meter`` at 0);
    tempo_change: (quarter, new qpm).
    """
    import mido

    tpq = 480
    events = [(0, 0, mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(qpm)))]
    if tempo_change is not None:
        events.append((round(tempo_change[0] * tpq), 0, mido.MetaMessage("set_tempo",
                                                                         tempo=mido.bpm2tempo(tempo_change[1]))))
    for n, d, q in signatures or [(*parse_meter(meter), 0.0)]:
        events.append((round(q * tpq), 0, mido.MetaMessage("time_signature", numerator=n, denominator=d)))
    for pitch, start, end in notes:
        events.append((round(end * tpq), 1, mido.Message("note_off", note=pitch, velocity=0)))
        events.append((round(start * tpq), 2, mido.Message("note_on", note=pitch, velocity=90)))
    track, now = mido.MidiTrack(), 0
    for tick, _, message in sorted(events, key=lambda e: (e[0], e[1])):
        track.append(message.copy(time=tick - now))
        now = tick
    file = mido.MidiFile(ticks_per_beat=tpq)
    file.tracks.append(track)
    file.save(str(path))
    return path


def tune(meter: str, bars: int = 2) -> list[tuple[int, float, float]]:
    """A hand-written melody filling ``bars`` bars of ``meter``: eighths and a dotted quarter per bar."""
    quarters = BARS[meter] / 4
    notes, q = [], 0.0
    pitches = iter([60, 62, 64, 65, 67, 69, 71, 72] * 8)
    for _ in range(bars):
        end = q + quarters
        while q + 0.5 <= end - 1.5:
            notes.append((next(pitches), q, q + 0.5))
            q += 0.5
        notes.append((next(pitches), q, end))  # the bar's last note holds to the bar line
        q = end
    return notes


def expected(notes, meter, bars=2):
    steps = [StepNote(p, round(s * 4), round(e * 4)) for p, s, e in notes]
    return encode(steps, num_steps=bars * BARS[meter])


@pytest.mark.parametrize("meter", ["4/4", "3/4", "6/8", "7/8", "5/4", "2/4"])
def test_round_trip_in_each_meter(tmp_path, meter):
    notes = tune(meter)
    events, warnings = midi_file_events(write(tmp_path / "in.mid", notes, meter=meter), steps_per_bar=BARS[meter],
                                        meter=meter)
    assert warnings == []
    np.testing.assert_array_equal(events, expected(notes, meter))
    # Events -> MIDI (in the meter) -> events is the identity.
    out = events_to_midi(events, qpm=100, steps_per_bar=BARS[meter], meter=meter)
    assert [(s.numerator, s.denominator) for s in out.time_signature_changes] == [parse_meter(meter)]
    out.write(str(tmp_path / "out.mid"))
    again, _ = midi_file_events(tmp_path / "out.mid", steps_per_bar=BARS[meter], meter=meter)
    np.testing.assert_array_equal(again, events)
    assert out.get_end_time() == pytest.approx(2 * BARS[meter] / 4 * 0.6, abs=1e-6)  # 2 bars at 100 qpm


@pytest.mark.parametrize("meter", ["4/4", "3/4", "6/8", "7/8"])
def test_transposition_and_tempo_leave_the_rhythm(tmp_path, meter):
    notes = tune(meter)
    base, _ = midi_file_events(write(tmp_path / "a.mid", notes, meter=meter), steps_per_bar=BARS[meter], meter=meter)
    up = [(p + 5, s, e) for p, s, e in notes]
    shifted, _ = midi_file_events(write(tmp_path / "up.mid", up, meter=meter), steps_per_bar=BARS[meter], meter=meter)
    np.testing.assert_array_equal(shifted, transpose(base, 5))
    for name, qpm, change in (("slow", 63.0, None), ("fast", 171.0, None), ("change", 120.0, (3.0, 75.0))):
        events, _ = midi_file_events(write(tmp_path / f"{name}.mid", notes, meter=meter, qpm=qpm, tempo_change=change),
                                     steps_per_bar=BARS[meter], meter=meter)
        np.testing.assert_array_equal(events, base, err_msg=name)


def test_the_tempo_change_file_really_changes_tempo(tmp_path):
    midi = pretty_midi.PrettyMIDI(str(write(tmp_path / "c.mid", tune("3/4"), meter="3/4", tempo_change=(3.0, 75.0))))
    times, tempi = midi.get_tempo_changes()
    assert len(tempi) == 2 and tempi[1] == pytest.approx(75.0)


@pytest.mark.parametrize("meter", ["5/4", "7/8", "3/4", "6/8", "2/4"])
def test_a_four_four_model_refuses_other_meters(tmp_path, meter):
    path = write(tmp_path / "odd.mid", tune(meter), meter=meter)
    with pytest.raises(MeterError, match=f"{meter} input: this instrument takes 4/4") as caught:
        midi_file_events(path)
    assert caught.value.meter == meter


def test_two_four_pairs_into_four_four_bars(tmp_path):
    notes = tune("2/4", bars=4)
    events, _ = midi_file_events(write(tmp_path / "march.mid", notes, meter="2/4"), pair_two_four=True)
    np.testing.assert_array_equal(events, expected(notes, "4/4", bars=2))


@pytest.mark.parametrize("meter, pickup", [("4/4", 1.0), ("3/4", 1.0), ("6/8", 0.5), ("2/4", 0.5)])
def test_a_pickup_bar_ends_a_padded_first_bar(tmp_path, meter, pickup):
    body = [(p, s + pickup, e + pickup) for p, s, e in tune(meter)]
    notes = [(59, 0.0, pickup)] + body
    pickup_signature = (1, 4) if pickup == 1.0 else (1, 8)
    signatures = [(*pickup_signature, 0.0), (*parse_meter(meter), pickup)]
    pair = meter == "2/4"
    model = "4/4" if pair else meter
    events, warnings = midi_file_events(write(tmp_path / "pickup.mid", notes, meter=meter, signatures=signatures),
                                        steps_per_bar=BARS[model], meter=model, pair_two_four=pair)
    assert warnings == []
    bar = BARS[model]
    shift = bar / 4 - pickup  # the pickup ends the model's first bar
    moved = [StepNote(p, round((s + shift) * 4), round((e + shift) * 4)) for p, s, e in notes]
    want = encode(moved, num_steps=int(np.ceil(max(n.end for n in moved) / bar)) * bar)
    np.testing.assert_array_equal(events, want)
    assert events[bar - int(pickup * 4)] == 59 - 21 + 2 and not events[: bar - int(pickup * 4)].any()


def test_a_meter_change_keeps_the_first_section_and_names_the_bar(tmp_path):
    notes = tune("4/4", bars=3) + [(70, 12.0 + q, 12.5 + q) for q in (0.0, 0.5, 1.0)]
    path = write(tmp_path / "change.mid", notes, meter="4/4", signatures=[(4, 4, 0.0), (3, 4, 12.0)])
    events, warnings = midi_file_events(path)
    assert warnings == ["meter changes from 4/4 to 3/4 at bar 4: using the first section, bars 1-3"]
    np.testing.assert_array_equal(events, expected(tune("4/4", bars=3), "4/4", bars=3))


def test_a_change_between_the_same_bars_is_no_change(tmp_path):
    notes = tune("4/4", bars=2)
    path = write(tmp_path / "cut.mid", notes, meter="4/4", signatures=[(4, 4, 0.0), (2, 2, 4.0)])
    events, warnings = midi_file_events(path)
    assert warnings == []
    np.testing.assert_array_equal(events, expected(notes, "4/4"))
