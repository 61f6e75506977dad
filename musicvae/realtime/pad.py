"""The live synth's four-corner pad: notes decoded at a point (x, y) between four timbre families.

As NSynth Super's pad: one family at each corner, the performer's point mixes them
(:func:`musicvae.blend.pad_latent`, the same latent ``blend --pad`` decodes offline). The point comes
from two control changes or OSC ``/xy f f`` (:mod:`musicvae.realtime.control`), and the note cache
keys notes by (pitch, x step, y step), each axis quantised as the two-timbre morph is
(:class:`~musicvae.realtime.note_cache.NoteCache` with ``pad=True``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from musicvae.audio.sustain import SustainedNote
from musicvae.realtime.synth import held_note_decoder

#: Controllers of x and y when none are chosen (1 = mod wheel, 2 = breath: the two knobs most keyboards have).
XY_CC = (1, 2)


def pad_note_decoder(instrument, corners: Sequence[str], *, sample_rate: int | None = None, velocity: int = 100,
                     iters: int | None = None) -> Callable[[int, tuple[float, float]], SustainedNote]:
    """A :class:`~musicvae.realtime.note_cache.NoteCache` decode function: (pitch, (x, y)) -> a held note.

    The latent is the pad's point between the four ``corners`` families (:func:`musicvae.blend.pad_latent`),
    decoded as :func:`~musicvae.realtime.synth.timbre_note_decoder` decodes (resampled to ``sample_rate``).

    Raises
    ------
    InputError
        At once (before any port opens) for corners that are not four different families of the instrument;
        the message lists those it has.
    """
    from musicvae import blend

    corners = [str(c) for c in corners]
    blend.pad_latent(instrument, corners, (0.5, 0.5))  # checks the corners now, not at the first note
    return held_note_decoder(instrument, lambda pitch, xy: blend.pad_latent(instrument, corners, xy, pitch=pitch),
                             sample_rate=sample_rate, velocity=velocity, iters=iters)
