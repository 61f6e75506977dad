"""What the page plays: MIDI files rendered through FluidSynth.

Melodies and chorales are heard through the General MIDI SoundFont the project
renders its timbre data with (``FluidR3_GM``, else pretty_midi's ``TimGM6mb``),
by pretty_midi's own FluidSynth renderer. One synthesiser is loaded once (the
SoundFont takes a second to read) and shared under a lock, reset before each file,
reverb and chorus off so that one render's tail never sounds in the next.
Timbre notes are the instrument's own audio and need no renderer; both are written by
:func:`musicvae.blend.write_audio`, as the commands write theirs.
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np

from musicvae.errors import SystemDependencyError

#: Rate of the melody renders (the page's WebAudio resamples to its device's).
SAMPLE_RATE = 22_050
#: SoundFonts to try, best first.
SOUNDFONTS = ("FluidR3_GM", "TimGM6mb")
#: Peak of a rendered file.
PEAK = 0.8


class MidiRenderer:
    """Renders MIDI files to mono float32 audio through one FluidSynth synthesiser, loaded on first use."""

    def __init__(self, *, sample_rate: int = SAMPLE_RATE, soundfonts: tuple[str, ...] = SOUNDFONTS) -> None:
        self.sample_rate, self.soundfonts = int(sample_rate), soundfonts
        self._lock = threading.Lock()
        self._synth = None
        self._sfid = None
        self.soundfont: Path | None = None

    def _load(self) -> None:
        from musicvae.audio.soundfont import _fluidsynth, find_soundfont

        fluidsynth = _fluidsynth()
        errors = []
        for name in self.soundfonts:
            try:
                path = find_soundfont(name)
                break
            except Exception as error:  # noqa: BLE001 - each one's reason is said if none is found
                errors.append(str(error))
        else:
            raise SystemDependencyError(f"no SoundFont to play melodies with: {'; '.join(errors)}")
        synth = fluidsynth.Synth(samplerate=float(self.sample_rate),
                                 **{"synth.reverb.active": 0, "synth.chorus.active": 0})
        self._sfid = synth.sfload(str(path))
        self._synth, self.soundfont = synth, path

    def render(self, midi_path: str | Path) -> np.ndarray:
        """Audio of a MIDI file -> [samples] float32 at :attr:`sample_rate`, peaking at :data:`PEAK`.

        The audio lasts the file's length (its last event: a melody's closing bar line) plus the
        release of its last note.
        """
        import pretty_midi

        midi = pretty_midi.PrettyMIDI(str(midi_path))
        with self._lock:
            if self._synth is None:
                self._load()
            self._synth.system_reset()
            audio = midi.fluidsynth(fs=self.sample_rate, synthesizer=self._synth, sfid=self._sfid)
        audio = np.asarray(audio, dtype=np.float32)
        length = int(round(midi.get_end_time() * self.sample_rate))
        if audio.size < length:  # the closing rest after the last note-off
            audio = np.pad(audio, (0, length - audio.size))
        top = float(np.max(np.abs(audio))) if audio.size else 0.0
        return (audio * np.float32(PEAK / top)).astype(np.float32) if top > 0 else audio

    def close(self) -> None:
        with self._lock:
            if self._synth is not None:
                self._synth.delete()
                self._synth = None

