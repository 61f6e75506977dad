"""The exported nn~ synth's ``play`` method: realtime factor at 256- and 2048-sample blocks on one thread.

Against, in the same run, the Python synth engine (musicvae.render: the same notes, blend sweep and
voices, offline), and against RAVE's streaming decode, 4.1x realtime at 2048-sample blocks on this
kind of 2-core machine with one thread (docs REFERENCE: a fresh v2 model, 44.1 kHz).

At the instrument's 16 kHz, and exported for a 44.1 kHz host (notes resampled once decoded, as the
Python synth does at a sound card's rate): RAVE's figure is at 44.1 kHz. Two passes each: "cold"
decodes every note the line reaches on the way (its first note-on of each (pitch, blend step)), as a
fresh synth does; "warm" plays the line again with those notes decoded.
Realtime factor = seconds of audio / seconds of work.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from musicvae.automation import parse_morph
from musicvae.export import export_instrument
from musicvae.instrument import Instrument
from musicvae.midi.reader import MidiNote
from musicvae.realtime.audio_io import render_notes
from musicvae.realtime.params import ParamStore
from musicvae.realtime.synth import NoteCache, SynthEngine, timbre_note_decoder
from musicvae.render import BLOCK

RAVE_STREAMING = 4.1  # x realtime, 2048-sample blocks, one thread (REFERENCE.md)
RATE = 16000
SECONDS = 12.0


def line() -> list[MidiNote]:
    """A 12-s monophonic line over an octave, 0.3-s notes with 0.1-s gaps."""
    rng = np.random.default_rng(0)
    pitches = rng.choice([60, 62, 64, 65, 67, 69, 71, 72], size=int(SECONDS / 0.4))
    return [MidiNote(pitch=int(p), velocity=90, start=0.4 * i, end=0.4 * i + 0.3) for i, p in enumerate(pitches)]


def signals(notes, n: int, curve, rate: int) -> torch.Tensor:
    x = np.zeros((1, 3, n), np.float32)
    for note in notes:
        a, b = int(round(note.start * rate)), int(round(note.end * rate))
        x[0, 0, a:b], x[0, 1, a:b] = note.velocity / 127, note.pitch
    x[0, 2] = [curve(i / rate) for i in range(n)]
    return torch.from_numpy(x)


def time_module(module, x: torch.Tensor, block: int) -> tuple[float, np.ndarray]:
    """Seconds for the whole line, and each call's seconds."""
    calls = []
    start = time.perf_counter()
    for i in range(0, x.shape[2], block):
        t = time.perf_counter()
        module.play(x[:, :, i : i + block])
        calls.append(time.perf_counter() - t)
    return time.perf_counter() - start, np.asarray(calls)


def time_python(instrument, notes, curve, rate: int) -> tuple[float, float]:
    low, high = instrument.model.pitch_range
    decode = timbre_note_decoder(instrument, sample_rate=rate)
    cache = NoteCache(decode, blocking=True)
    times = []
    for _ in range(2):  # cold, then warm (the same cache)
        engine = SynthEngine(cache, ParamStore(), sample_rate=rate, pitch_range=(low, high), clip=False)
        start = time.perf_counter()
        render_notes(engine, notes, morph=curve, block=BLOCK)
        times.append(time.perf_counter() - start)
    return times[0], times[1]


def main() -> None:
    torch.set_num_threads(1)
    instrument = Instrument.load("flute-guitar")
    notes = line()
    curve = parse_morph(f"0:0,{SECONDS:g}:1")
    print(f"{len(notes)} notes, blend swept 0 -> 1, one thread")
    for rate in (RATE, 44100):
        with tempfile.TemporaryDirectory() as tmp:
            path, _ = export_instrument(instrument, "nn-tilde", Path(tmp) / "flute-guitar.ts",
                                        sample_rate=None if rate == RATE else rate)
            n = int(round((notes[-1].end + 0.1) * rate))
            x = signals(notes, n, curve, rate)
            audio = n / rate
            cold_py, warm_py = time_python(instrument, notes, curve, rate)
            print(f"-- {audio:.1f} s of audio at {rate} Hz")
            print(f"python synth engine (render.py, {BLOCK}-sample blocks): cold {audio / cold_py:6.1f}x realtime, "
                  f"warm {audio / warm_py:6.1f}x")
            for block in (256, 2048):
                module = torch.jit.load(str(path))
                module.play(torch.zeros(1, 3, block))  # TorchScript's profiling runs (2 calls) before the timing
                module.play(torch.zeros(1, 3, block))
                module.reset()
                cold, cold_calls = time_module(module, x, block)
                warm, warm_calls = time_module(module, x, block)  # the notes stay decoded; the stream goes on
                budget = block / rate * 1e3
                print(f"nn~ play, {block:4d}-sample blocks: cold {audio / cold:6.1f}x realtime, "
                      f"warm {audio / warm:6.1f}x  (warm vs Python synth {warm_py / warm:4.2f}x, cold vs Python "
                      f"{cold_py / cold:4.2f}x, warm vs RAVE streaming {audio / warm / RAVE_STREAMING:4.1f}x)")
                print(f"    one call: budget {budget:.1f} ms; warm p99 {np.percentile(warm_calls, 99) * 1e3:.2f} ms, "
                      f"max {warm_calls.max() * 1e3:.2f} ms; cold max {cold_calls.max() * 1e3:.1f} ms, "
                      f"{int((cold_calls * 1e3 > budget).sum())} of {len(cold_calls)} cold calls over budget")


if __name__ == "__main__":
    main()
