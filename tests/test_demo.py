"""``musicvae demo`` on the shipped instruments: every file it names exists and reads back as music."""

from __future__ import annotations

import numpy as np
import pretty_midi
import soundfile
from music21 import converter

from musicvae.cli import main


def test_demo_writes_playable_files_from_the_shipped_instruments(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "-o", str(out)]) == 0
    written = sorted(line.removeprefix("wrote ") for line in capsys.readouterr().out.splitlines())
    # Exactly the files it reports, nothing half-written beside them.
    on_disk = sorted(str(p) for p in out.rglob("*") if p.is_file())
    assert written == on_disk and len(written) == 36

    # Melody morph: the whole morph plus one file per step (A, three in between, B), each with notes.
    morph = pretty_midi.PrettyMIDI(str(out / "melody-morph.mid"))
    steps = sorted(out.glob("melody-morph_step*.mid"))
    assert len(steps) == 5 and sum(len(i.notes) for i in morph.instruments) > 20
    assert all(sum(len(i.notes) for i in pretty_midi.PrettyMIDI(str(s)).instruments) > 0 for s in steps)
    assert len(list((out / "melody-samples").glob("sample_*.mid"))) == 8
    # The 16-bar model's tunes fill their 16 bars of 4/4 (32 s at 120 BPM; over 24 s means past bar 12), not two.
    long = [pretty_midi.PrettyMIDI(str(p)) for p in sorted((out / "melody-16bar-samples").glob("sample_*.mid"))]
    assert len(long) == 2 and all(16 <= len(t.instruments[0].notes) and t.get_end_time() > 24.0 for t in long)

    # Timbre: 16 kHz audio, never silent or clipped, and the morph changes the sound of the phrase.
    phrases = {}
    for amount in ("0.00", "0.50", "1.00"):
        audio, rate = soundfile.read(out / f"timbre-phrase-morph{amount}.wav")
        assert rate == 16_000 and np.isfinite(audio).all() and 0.05 < np.abs(audio).max() <= 1.0
        phrases[amount] = audio
    flute, guitar = phrases["0.00"], phrases["1.00"]
    n = min(len(flute), len(guitar))
    assert np.abs(flute[:n] - guitar[:n]).mean() > 0.1 * np.abs(flute[:n]).mean()
    blend, rate = soundfile.read(out / "timbre-blend-G4.wav")
    assert len(blend) > 5 * rate  # five 1-s notes with gaps

    # Chorale: four voices in MIDI and MusicXML, the soprano the melody that went in.
    chorale = pretty_midi.PrettyMIDI(str(out / "chorale-bwv144.6.mid"))
    assert [i.name for i in chorale.instruments] == ["Soprano", "Alto", "Tenor", "Bass"]
    assert all(len(i.notes) > 10 for i in chorale.instruments)
    score = converter.parse(str(out / "chorale-bwv144.6.musicxml"))
    assert len(score.parts) == 4
