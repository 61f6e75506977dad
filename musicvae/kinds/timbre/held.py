"""How long held notes sound: each sustaining family's notes held past their decoded length, key-up heard
where it should be.

A held note plays its decoded note, loops a stretch of its sustain, then on key-up its own release
(:mod:`musicvae.audio.sustain`). Its length is right when the key-up is heard as long after the key
went up as in the decoded note itself: ``heard(held) - held`` against ``heard(note) - hold``
(:func:`~musicvae.audio.sustain.heard_key_up`), in hops of the spectrogram. Decaying families
(a plucked or struck note fading while looped) have no sustain level to fall from and are left out.
"""

from __future__ import annotations

import numpy as np

from musicvae.midi.reader import MidiNote

#: A loop whose level falls faster than this (dB/s) is a decaying family's.
SUSTAIN_DECAY_DB = -3.0
#: The length target: the key-up heard within one hop of where it should be.
TARGET_HOPS = 1.0


def held_note_lengths(instrument, families: list[str], pitches: list[int], *, held: float = 3.0) -> dict:
    """Key-up errors of notes held ``held`` seconds, every family that sustains, at ``pitches``.

    Returns
    -------
    dict
        ``notes`` measured, ``families`` measured (the sustaining ones), ``held_seconds``, ``median_hops``,
        ``p95_hops``, ``max_hops`` (absolute errors), ``over_one_hop``, ``worst`` ({family, pitch, hops},
        signed: negative = heard early), and ``by_family`` (max absolute hops).
    """
    from musicvae import blend
    from musicvae.audio.sustain import heard_key_up
    from musicvae.realtime.synth import timbre_note_decoder
    from musicvae.render import one_torch_thread, render_melody

    spec = instrument.config.model.spectrogram
    rate, hop = spec.sample_rate, spec.hop_length
    hold = blend.hold_seconds(instrument)
    errors: dict[str, list[tuple[int, float]]] = {}
    with one_torch_thread():
        for family in families:
            decode = timbre_note_decoder(instrument, source=family, target=family)
            for pitch in pitches:
                note = decode(pitch, 0.0)
                decay_db = note.decay * rate * 20.0 / np.log(10.0)
                if note.loop is None or decay_db < SUSTAIN_DECAY_DB:
                    continue
                audio = render_melody(instrument, [MidiNote(pitch, 100, 0.0, held)], morph=0.0, source=family,
                                      target=family)
                expected = held + heard_key_up(note.audio, hold, sample_rate=rate) - hold
                error = (heard_key_up(audio, held, sample_rate=rate) - expected) * rate / hop
                errors.setdefault(family, []).append((pitch, float(error)))
    flat = [(f, p, e) for f, rows in errors.items() for p, e in rows]
    if not flat:
        return {"notes": 0, "families": [], "held_seconds": held}
    size = np.abs([e for _, _, e in flat])
    family, pitch, error = flat[int(np.argmax(size))]
    return {
        "notes": len(flat),
        "families": list(errors),
        "held_seconds": held,
        "median_hops": float(np.median(size)),
        "p95_hops": float(np.percentile(size, 95)),
        "max_hops": float(size.max()),
        "over_one_hop": int((size > TARGET_HOPS).sum()),
        "worst": {"family": family, "pitch": int(pitch), "hops": round(error, 3)},
        "by_family": {f: round(float(np.abs([e for _, e in rows]).max()), 3) for f, rows in errors.items()},
    }
