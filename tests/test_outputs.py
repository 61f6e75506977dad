"""Generated melodies are written in their instrument's meter."""

import numpy as np
import pretty_midi
import pytest

from musicvae.kinds.melody.config import MelodyRepresentation, for_meter
from musicvae.outputs import write_morph, write_samples


@pytest.mark.parametrize("meter, quarters", [("3/4", 3), ("6/8", 3), ("4/4", 4), ("7/8", 3.5)])
def test_files_carry_the_meter_and_its_bar_length(tmp_path, meter, quarters):
    rep = for_meter(meter) if meter != "4/4" else MelodyRepresentation()
    events = np.zeros((2, rep.steps), np.int64)
    events[:, 0] = 2 + 60 - rep.min_pitch
    events[:, rep.steps_per_bar] = 2 + 64 - rep.min_pitch  # the downbeat of bar 2
    written = write_samples(events, tmp_path / "s", representation=rep, bpm=60.0)
    midi = pretty_midi.PrettyMIDI(str(written[0]))
    assert [(s.numerator, s.denominator) for s in midi.time_signature_changes] == [tuple(map(int, meter.split("/")))]
    assert [n.start for n in midi.instruments[0].notes] == pytest.approx([0.0, quarters])  # 1 s a quarter
    assert midi.get_end_time() == pytest.approx(2 * quarters)
    morph = write_morph(events, tmp_path / "m.mid", representation=rep, bpm=60.0, per_step=True)
    assert pretty_midi.PrettyMIDI(str(morph[0])).get_end_time() == pytest.approx(4 * quarters)
