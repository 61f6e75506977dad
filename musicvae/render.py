"""Playing MIDI notes offline through a timbre instrument: what ``blend --midi`` and ``synth --midi-file`` write.

Both commands call :func:`render_midi`, which runs the live synth's engine
(:class:`~musicvae.realtime.synth.SynthEngine` over a blocking
:class:`~musicvae.realtime.synth.NoteCache`) faster than real time, so the same
file and morph give the same samples from either command, and what they write
is what the live synth plays for the same notes. One set of rules:

- **morph**: a note takes the morph (an amount or an automation, sampled at each
  256-frame block) when it starts, rounded to ``1 / MORPH_STEPS`` (the note
  cache's key); a held note crossfades to the next step when an automation moves
  on, as it does live.
- **velocity**: notes are decoded at velocity 100 and played at
  ``gain * velocity / 127``, as the live synth does. Keying the cache by a
  quantised velocity too would multiply what the live synth decodes ahead (the
  instrument's whole pitch range at each morph step it reaches: 37 notes of
  about 12 ms each for flute-guitar) by the number of velocity steps, and its
  prefetch would no longer keep up with a morph sweep; offline and live play by
  the same rule instead.
- **voices**: ``voices`` (``--voices``, default 8); a note beyond them steals a
  voice, which fades out over 5 ms.
- **level**: the engine's per-block clip at full scale is for the live output;
  an offline render is never clipped: one whose peak would pass ``PEAK`` is
  scaled down as a whole so that its peak is ``PEAK``, a quieter one is written as
  rendered (:func:`fit_level`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from pathlib import Path

import numpy as np

from musicvae.automation import parse_morph
from musicvae.errors import InputError, InstrumentError
from musicvae.midi.reader import MidiNote, read_melody

#: The polyphony of an offline render unless ``--voices`` says otherwise (the live synth's too).
VOICES = 8
#: Highest peak an offline render is written with (about -0.9 dBFS).
PEAK = 0.9
#: Frames per engine block; the morph automation is sampled at each block's start.
BLOCK = 256
#: Longest offline render in seconds (ten minutes: about 30 s of work on a 2-core laptop, 40 MB at 16 kHz).
MAX_SECONDS = 600.0


def render_melody(instrument, notes: list[MidiNote], *, morph: Callable[[float], float] | float = 0.5,
                  voices: int = VOICES, sample_rate: int | None = None, source: str = "flute",
                  target: str = "guitar", method: str = "slerp", morph_steps: int | None = None,
                  iters: int | None = None, what: str = "the melody",
                  progress: Callable[[int, int], None] | None = None) -> np.ndarray:
    """Play ``notes`` through the synth engine offline -> mono float32 [samples] at ``sample_rate``.

    Parameters
    ----------
    instrument : Instrument
        A timbre instrument.
    notes : list of MidiNote
        Pitch, velocity, start and end in seconds (:func:`musicvae.midi.reader.read_melody`).
    morph : callable(seconds) -> float, or float, keyword-only
        Blend amount from ``source`` (0) to ``target`` (1), or an automation
        (:func:`musicvae.automation.parse_morph`).
    voices : int, keyword-only
        Polyphony.
    sample_rate : int, optional, keyword-only
        Of the output (default: the instrument's); notes are resampled to it.
    source, target : str, keyword-only
        Families whose mean latents the blend runs between.
    method : {"slerp", "lerp"}, keyword-only
    morph_steps : int, optional, keyword-only
        Morph quantisation (default :data:`~musicvae.realtime.synth.MORPH_STEPS`, the live synth's).
    iters : int, optional, keyword-only
        Griffin-Lim iterations (default: the instrument's).
    what : str, keyword-only
        Names the notes in error messages (the MIDI file).
    progress : callable(done, total), optional, keyword-only
        Told the frames rendered so far and in all (:func:`musicvae.realtime.audio_io.render_notes`).

    Raises
    ------
    InputError
        A pitch outside the instrument's range, an unknown family, fewer than one voice, or notes
        lasting longer than :data:`MAX_SECONDS`.
    """
    from musicvae import blend
    from musicvae.realtime.audio_io import render_notes
    from musicvae.realtime.synth import MORPH_STEPS, NoteCache, SynthEngine, timbre_note_decoder

    instrument.require_kind("timbre")
    if not notes:
        raise InputError(f"{what}: no notes to play")
    end = max(n.end for n in notes)
    if end > MAX_SECONDS:
        raise InputError(f"{what}: its notes last until {end / 60:.1f} minutes; an offline render is at most "
                         f"{MAX_SECONDS / 60:g} minutes (cut the file)")
    low, high = instrument.model.pitch_range
    outside = sorted({n.pitch for n in notes if not low <= n.pitch <= high})
    if outside:
        raise InputError(f"{what}: pitch {outside[0]} lies outside the range this instrument was trained on "
                         f"(MIDI {low}..{high}); transpose it into that range")
    rate = int(sample_rate or blend.sample_rate(instrument))
    decode = timbre_note_decoder(instrument, sample_rate=rate, source=source, target=target, method=method,
                                 iters=iters)
    cache = NoteCache(decode, morph_steps=morph_steps or MORPH_STEPS, blocking=True)
    engine = SynthEngine(cache, _params(), sample_rate=rate, max_voices=voices, pitch_range=(low, high),
                         clip=False)
    with one_torch_thread():
        audio = render_notes(engine, notes, morph=morph, block=BLOCK, progress=progress)
    if cache.errors:
        raise InstrumentError(f"{len(cache.errors)} notes failed to decode (first: {cache.errors[0]})")
    return fit_level(audio)


def render_midi(instrument, path: str | Path, *, morph: str | float = 0.5, **kwargs) -> np.ndarray:
    """Play a MIDI file (its notes held by its sustain pedal) offline; see :func:`render_melody`.

    Raises
    ------
    InputError
        For a bad MIDI file (:func:`musicvae.midi.reader.read_melody`), a bad ``--morph``, or what
        :func:`render_melody` refuses.
    """
    return render_melody(instrument, read_melody(path), morph=parse_morph(morph), what=str(path), **kwargs)


def fit_level(audio: np.ndarray, *, peak: float = PEAK) -> np.ndarray:
    """``audio`` scaled down as a whole so that its peak is ``peak`` if it was above; else unchanged."""
    top = float(np.max(np.abs(audio))) if audio.size else 0.0
    if top > peak:
        audio = (audio * np.float32(peak / top)).astype(np.float32)
    return audio


def _params():
    from musicvae.realtime.params import ParamStore

    return ParamStore()


@contextlib.contextmanager
def one_torch_thread():
    """Decode notes on one torch thread: one small note at a time is latency-bound, and a second thread
    fighting other work for the second core made a render 8x slower on a loaded 2-core machine."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)
