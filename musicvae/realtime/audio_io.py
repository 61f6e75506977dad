"""Audio adapters around :class:`~musicvae.realtime.synth.SynthEngine`: PortAudio/JACK output and offline files.

The offline renderer runs the same engine core as the live output, block by
block, faster than real time: what it writes is what a live performance of
the same events would sound like.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from musicvae.errors import InputError, SystemDependencyError
from musicvae.realtime.stopping import blocked_signals
from musicvae.realtime.synth import SynthEngine


def _sounddevice():
    try:
        with blocked_signals():  # PortAudio starts its host APIs' threads here (JACK's: see stopping)
            import sounddevice
    except (ImportError, OSError) as error:  # OSError: the PortAudio library is missing
        raise SystemDependencyError(
            f"sounddevice cannot load PortAudio ({error}); install libportaudio2 (Debian name)"
        ) from None
    return sounddevice


def find_output_device(name: str | None, *, api: str | None = None) -> tuple[int | None, int]:
    """(device index, default sample rate) of the output called ``name`` ("default" / None = the default).

    ``api="jack"`` picks the device of PortAudio's JACK host API (a JACK server must be running).

    Raises
    ------
    InputError
        Unknown device (the message lists the outputs), or no device of that API.
    SystemDependencyError
        PortAudio is missing or sees no output at all.
    """
    sd = _sounddevice()
    try:
        devices = sd.query_devices()
        apis = sd.query_hostapis()
    except sd.PortAudioError as error:
        raise SystemDependencyError(f"PortAudio finds no audio system ({error})") from None
    outputs = [(i, d) for i, d in enumerate(devices) if d["max_output_channels"] > 0]
    if api is not None:
        outputs = [(i, d) for i, d in outputs if api.lower() in apis[d["hostapi"]]["name"].lower()]
        if not outputs:
            raise InputError(f"no {api} audio output; is its server running? (JACK: jackd -d dummy or a card)")
    if not outputs:
        raise SystemDependencyError("no audio output device (no sound card, PulseAudio, PipeWire or JACK)")
    if name in (None, "default"):
        if api is None:
            index = sd.default.device[1]
            if index is not None and index >= 0:
                return int(index), int(devices[index]["default_samplerate"])
        i, d = outputs[0]
        return i, int(d["default_samplerate"])
    hits = [(i, d) for i, d in outputs if name.lower() in d["name"].lower()]
    if len(hits) != 1:
        names = ", ".join(repr(d["name"]) for _, d in outputs)
        raise InputError(f"{'no' if not hits else 'more than one'} audio output matches {name!r}; outputs: {names}")
    return hits[0][0], int(hits[0][1]["default_samplerate"])


class SoundDeviceOutput:
    """Plays an engine through a PortAudio output stream (float32): its mono signal on both channels of a stereo
    (or wider) output, so that it sounds in the left and the right speaker alike.

    Parameters
    ----------
    engine : SynthEngine
        Its ``sample_rate`` must be the device's (see :func:`find_output_device`).
    device : int, optional, keyword-only
    blocksize : int, keyword-only
        Frames per callback (256 at 48 kHz = 5.3 ms).
    """

    def __init__(self, engine: SynthEngine, *, device: int | None = None, blocksize: int = 256) -> None:
        sd = _sounddevice()
        self.engine = engine
        self.underflows = 0
        self.last_peak = 0.0  # peak of the last block played: a stop waits for it to reach 0
        try:
            # Two channels wherever the device has them: a mono stream reaches only the first (left) playback
            # port, which is what PortAudio's JACK host API connects a one-channel stream to.
            info = sd.query_devices(device, "output")
            self.channels = min(2, max(1, int(info["max_output_channels"])))
            with blocked_signals():
                self.stream = sd.OutputStream(samplerate=engine.sample_rate, blocksize=blocksize, device=device,
                                              channels=self.channels, dtype="float32", callback=self._callback)
        except (sd.PortAudioError, ValueError) as error:  # ValueError: no such device
            raise SystemDependencyError(f"cannot open the audio output ({error})") from None

    def _callback(self, outdata, frames, _time, status) -> None:
        if status.output_underflow:
            self.underflows += 1
        block = self.engine.process(frames)
        outdata[:, 0] = block
        self.last_peak = max(float(block.max()), -float(block.min()))  # two scalar reductions: no array allocated
        if self.channels > 1:
            outdata[:, 1] = outdata[:, 0]

    def start(self) -> None:
        with blocked_signals():  # the stream's process thread starts here
            self.stream.start()

    def close(self) -> None:
        self.stream.stop()
        self.stream.close()


#: Longest a render goes on after its last note-off for releases still sounding (seconds).
RELEASE_TAIL = 2.0


def render_notes(engine: SynthEngine, notes, *, morph: Callable[[float], float] | float = 0.0,
                 block: int = 256, tail: float | None = None,
                 progress: Callable[[int, int], None] | None = None) -> np.ndarray:
    """Play ``notes`` through ``engine`` offline -> mono float32 [samples] at ``engine.sample_rate``.

    Parameters
    ----------
    engine : SynthEngine
        A fresh engine (frame 0); use a blocking :class:`~musicvae.realtime.synth.NoteCache` for an exact render.
    notes : list of musicvae.midi.reader.MidiNote
        Pitch, velocity, start and end in seconds.
    morph : callable(seconds) -> float, or float, keyword-only
        Morph automation, sampled at each block start (see :func:`musicvae.automation.parse_morph`).
    block : int, keyword-only
        Frames per ``process`` call.
    tail : float, optional, keyword-only
        Seconds rendered after the last note-off (default: the release time plus 50 ms), and then on
        while a voice still sounds (a sustained note's decoded release), at most :data:`RELEASE_TAIL`.
    progress : callable(done, total), optional, keyword-only
        Called with the frames rendered so far and in all, every 64 blocks and at the end.
    """
    if not notes:
        raise InputError("no notes to render")
    rate = engine.sample_rate
    # Note-offs before note-ons at the same frame: a repeated pitch ends before it restarts.
    timed = sorted([(int(round(n.start * rate)), 1, n.pitch, n.velocity) for n in notes]
                   + [(int(round(n.end * rate)), 0, n.pitch, 0) for n in notes])
    for frame, is_on, pitch, velocity in timed:
        if is_on:
            engine.note_on(pitch, velocity, frame=frame)
        else:
            engine.note_off(pitch, frame=frame)
    tail = engine.release_frames / rate + 0.05 if tail is None else tail
    total = timed[-1][0] + int(round(tail * rate))
    amount = morph if callable(morph) else (lambda t: float(morph))
    out = np.zeros(total, np.float32)
    for start in range(0, total, block):
        engine.params.update(morph=float(amount(start / rate)))
        frames = min(block, total - start)
        out[start : start + frames] = engine.process(frames)
        if progress is not None and (start // block % 64 == 63 or start + frames == total):
            progress(start + frames, total)
    # A note let go while looping its sustain plays its decoded release, longer than the fade: the
    # render goes on, block by block, until every voice has ended (at most RELEASE_TAIL seconds more).
    more = []
    while engine.voices and len(more) * block < RELEASE_TAIL * rate:
        engine.params.update(morph=float(amount((total + len(more) * block) / rate)))
        more.append(engine.process(block).copy())
    return np.concatenate([out, *more]) if more else out
