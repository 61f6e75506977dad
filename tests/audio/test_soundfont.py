"""FluidSynth rendering: real notes from both SoundFonts, and one-line errors for what is missing."""

import builtins

import numpy as np
import pytest

from musicvae.audio import soundfont
from musicvae.audio.loaders import median_f0
from musicvae.audio.soundfont import NoteSpec, SoundFontRenderer, find_soundfont, gm_family, render_notes
from musicvae.errors import InputError, SystemDependencyError


def test_gm_families():
    assert gm_family(73) == "flute" and gm_family(24) == "guitar" and gm_family(25) == "guitar"
    assert gm_family(0) == "keyboard" and gm_family(40) == "string"
    with pytest.raises(InputError):
        gm_family(128)


@pytest.mark.parametrize("name", ["FluidR3_GM", "TimGM6mb"])
def test_renders_in_tune_notes_from_both_soundfonts(name):
    notes = render_notes(name, [(NoteSpec(67, 100), 73), (NoteSpec(48, 60, hold_seconds=0.2), 24)])
    assert notes.shape == (2, 16_000) and notes.dtype == np.float32
    assert np.all(np.abs(notes).max(axis=1) > 0.01)
    f0 = median_f0(notes[0], sample_rate=16_000)
    assert abs(1200 * np.log2(f0 / 392.0)) < 50  # G4


def test_release_and_fixed_length():
    with SoundFontRenderer("TimGM6mb") as renderer:
        short = renderer.render(NoteSpec(60, 100, hold_seconds=0.1, seconds=0.5), program=73)
        assert short.shape == (8000,)
        # After note-off plus the release, the flute falls far below its peak.
        assert np.abs(short[-800:]).max() < 0.1 * np.abs(short).max()
        with pytest.raises(InputError, match="pitch must lie"):
            renderer.render(NoteSpec(130, 100), program=73)
        with pytest.raises(InputError, match="hold"):
            renderer.render(NoteSpec(60, 100, hold_seconds=2.0), program=73)


def test_missing_named_soundfont_says_what_to_install(monkeypatch, tmp_path):
    monkeypatch.setattr(soundfont, "SYSTEM_SF2_DIRS", (tmp_path,))
    with pytest.raises(SystemDependencyError, match="apt-get install fluid-soundfont-gm"):
        find_soundfont("FluidR3_GM")


def test_bad_soundfont_paths(tmp_path):
    with pytest.raises(InputError, match="not found"):
        find_soundfont(tmp_path / "nope.sf2")
    fake = tmp_path / "fake.sf2"
    fake.write_bytes(b"RIFF\0\0\0\0WAVEfmt ")
    with pytest.raises(InputError, match="not a SoundFont"):
        find_soundfont(fake)
    assert find_soundfont("TimGM6mb").name == "TimGM6mb.sf2"


def test_missing_fluidsynth_library_says_what_to_install(monkeypatch):
    real_import = builtins.__import__

    def fake_import(name, *args, **kwargs):
        if name == "fluidsynth":
            raise ImportError("Couldn't find the FluidSynth library.")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake_import)
    with pytest.raises(SystemDependencyError, match="apt-get install libfluidsynth3") as info:
        SoundFontRenderer("TimGM6mb")
    assert "\n" not in str(info.value)
    assert info.value.exit_code == 3


def test_program_the_soundfont_lacks(tmp_path):
    with SoundFontRenderer("TimGM6mb") as renderer:
        assert renderer.has_program(73)
        with pytest.raises(InputError, match="no program"):
            renderer.render(NoteSpec(60), program=73, bank=5)
