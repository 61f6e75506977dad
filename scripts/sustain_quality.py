"""How well a timbre instrument's notes hold: keys held 0.1, 1, 3 and 8 s across its range and blend.

For each (blend amount, pitch, hold) it renders the note offline (:func:`musicvae.render.render_melody`,
the synth engine) and measures:

- pitch: the share of its loud hops (within 30 dB of its peak) that pYIN hears within 50 cents of the key;
- loop flux: the largest spectral flux (mean rise of the log magnitude per hop) over the looped stretch,
  over the largest flux of the decoded note's own sustain (0.15 s to the loop's entry): a click at a loop
  point is a broadband rise, far above the note's own;
- key-up: for a sustaining blend (amount 0, the flute), where the level falls 12 dB, against the key-up
  plus the decoded note's own release time, in hops.

Run: ``python scripts/sustain_quality.py [instrument]`` (default flute-guitar; about a minute).
"""

from __future__ import annotations

import argparse

import librosa
import numpy as np

from musicvae import blend
from musicvae.audio.sustain import heard_key_up
from musicvae.instrument import Instrument
from musicvae.midi.reader import MidiNote
from musicvae.realtime.synth import timbre_note_decoder
from musicvae.render import one_torch_thread, render_melody

HOP = 256
HELD = (0.1, 1.0, 3.0, 8.0)


def level_db(audio: np.ndarray, *, step: int = HOP, window: int = HOP) -> np.ndarray:
    power = np.convolve(audio.astype(np.float64) ** 2, np.ones(window) / window, mode="valid")[::step]
    return 10 * np.log10(power + 1e-12)


def flux(audio: np.ndarray) -> np.ndarray:
    spectrum = np.log(np.abs(librosa.stft(audio, n_fft=1024, hop_length=HOP)) + 1e-5)
    return np.maximum(np.diff(spectrum, axis=1), 0).mean(axis=0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("instrument", nargs="?", default="flute-guitar")
    args = parser.parse_args()
    instrument = Instrument.load(args.instrument)
    rate = blend.sample_rate(instrument)
    low, high = instrument.model.pitch_range
    decode = timbre_note_decoder(instrument)
    pitch_ok, flux_ratio, key_error, lengths = [], [], [], []
    for amount in (0.0, 0.5, 1.0):
        for pitch in range(low, high + 1, 6):
            with one_torch_thread():
                note = decode(pitch, amount)
            own = flux(note.audio)[int(0.15 * rate / HOP) : note.entry // HOP].max()
            f0 = librosa.midi_to_hz(pitch)
            for held in HELD:
                audio = render_melody(instrument, [MidiNote(pitch, 100, 0.0, held)], morph=amount)
                lengths.append(len(audio) / rate - held)
                db = level_db(audio)
                loud = db > db.max() - 30
                found, _, _ = librosa.pyin(audio.astype(np.float64), fmin=f0 / 1.5, fmax=f0 * 1.5, sr=rate,
                                           frame_length=1024, hop_length=HOP, center=False)
                n = min(len(found), len(loud))
                heard = found[:n][loud[:n]]
                cents = np.abs(1200 * np.log2(np.where(np.isfinite(heard), heard, 1.0) / f0))
                pitch_ok.append(float(np.mean(np.isfinite(heard) & (cents < 50))))
                if held > note.entry / rate:
                    flux_ratio.append(float(flux(audio)[note.entry // HOP : int(held * rate / HOP) - 2].max() / own))
                    if amount == 0.0:
                        hold = blend.hold_seconds(instrument)
                        want = held + heard_key_up(note.audio, hold, sample_rate=rate) - hold
                        key_error.append(abs(heard_key_up(audio, held, sample_rate=rate) - want) * rate / HOP)
                        if key_error[-1] > 1:
                            print(f"  key-up {key_error[-1]:.2f} hops off at MIDI {pitch}, held {held} s")
    print(f"{args.instrument}: {len(pitch_ok)} notes (blend 0, 0.5, 1; MIDI {low}..{high} every 6; held {HELD} s)")
    print(f"  pitch: loud hops within 50 cents, mean {np.mean(pitch_ok):.3f}, worst note {np.min(pitch_ok):.3f}")
    print(f"  loop flux / the note's own sustain flux: median {np.median(flux_ratio):.2f}, "
          f"max {np.max(flux_ratio):.2f} ({len(flux_ratio)} looped notes)")
    print(f"  key-up heard vs expected (flute): median {np.median(key_error):.2f} hops, max {np.max(key_error):.2f}")
    print(f"  render past the key-up: {np.min(lengths):.3f}..{np.max(lengths):.3f} s")


if __name__ == "__main__":
    main()
