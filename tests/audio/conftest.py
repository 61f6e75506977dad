"""Real FluidSynth renders shared by the audio tests (rendered once per session)."""

import numpy as np
import pytest

from musicvae.audio.loaders import prepare_note
from musicvae.audio.soundfont import NoteSpec, SoundFontRenderer


@pytest.fixture(scope="session")
def rendered_notes() -> np.ndarray:
    """[2, 16000]: a FluidR3 flute and nylon guitar C4 (MIDI 60), prepared as model notes."""
    with SoundFontRenderer("FluidR3_GM") as renderer:
        notes = [renderer.render(NoteSpec(60, 100), program=program) for program in (73, 24)]
    return np.stack([prepare_note(n, sample_rate=16_000, n_samples=16_000) for n in notes])
