"""The verbs of a timbre instrument: encode, decode, sample, interpolate, blend, and playing a melody.

Notes are numpy audio ([N, n_samples] float32 at the instrument's sample
rate); latents are [N, Z]. Decoding runs the model's decoder at a pitch and
velocity and inverts the log-spectrogram with fast Griffin-Lim.

A blend's endpoints are each family's mean latent over its training notes at the pitch played,
stored in the instrument as ``extras["pitch_latent.<family>"]`` tables [P, Z] (and the mean over
all pitches as ``extras["mean_latent.<family>"]``), or the latent of a user's own note
(``--from a.wav --to b.wav``). By pitch, because a family's timbre moves over its range: the
mallets' mean over all pitches decoded, at any one pitch, to a note the family classifier heard
as mallet at 62% of the pitches (guitar or keyboard at the rest), its mean at each pitch at 100%.

A user's note is encoded at the RMS level of the instrument's training notes
(:func:`training_level`), and a blend with one at either end is written at that
level too: each step's level is the training level at a user's end, the decoded
level at a family's end, and moves between them in dB along the path. No blend
is ever clipped: one that would peak above :data:`musicvae.render.PEAK` is
scaled down as a whole, and :attr:`Blend.level` says so.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from musicvae.errors import InputError, InstrumentError
from musicvae.instrument import Instrument
from musicvae.models.latent import interpolate as interpolate_latents
from musicvae.models.latent import lerp, slerp

#: Extras key prefix of the per-family mean latents.
MEAN_LATENT = "mean_latent."
#: Extras key prefix of the per-family mean latents at each pitch of the trained range.
PITCH_LATENT = "pitch_latent."
#: Silence between the notes of a blend written to one file (seconds).
NOTE_GAP = 0.1


def _model(instrument: Instrument):
    return instrument.require_kind("timbre").model


def spectrogram(instrument: Instrument):
    """The instrument's :class:`~musicvae.audio.spectrogram.Spectrogram` (analysis and inversion)."""
    return _spectrogram_of(instrument.require_kind("timbre").config.model)


@functools.lru_cache(maxsize=8)
def _spectrogram_of(model_config):
    # Building one costs ~15 ms (librosa's mel filters), most of a note's decode budget; configs
    # are frozen and a Spectrogram never changes once built, so one per config is shared.
    from musicvae.kinds.timbre import build_spectrogram

    return build_spectrogram(model_config)


def sample_rate(instrument: Instrument) -> int:
    return int(instrument.config.model.spectrogram.sample_rate)


def hold_seconds(instrument: Instrument) -> float:
    """How long the keys of the instrument's training notes were held (its recipe's ``notes.hold_seconds``):
    a decoded note's sustain ends there, its release follows. 3/4 of the note when the recipe is not found."""
    from musicvae.errors import MusicVAEError
    from musicvae.kinds.timbre.data import load_timbre_recipe

    spec = instrument.require_kind("timbre").config.model.spectrogram
    seconds = spec.n_samples / spec.sample_rate
    try:
        notes = load_timbre_recipe(instrument.config.data).notes
    except MusicVAEError:
        return 0.75 * seconds
    return float(min(notes.hold_seconds, seconds))


def families(instrument: Instrument) -> list[str]:
    """The families whose mean latents the instrument stores, in stored order."""
    return [k[len(MEAN_LATENT) :] for k in instrument.extras if k.startswith(MEAN_LATENT)]


def family_latent(instrument: Instrument, family: str, pitch: int | None = None) -> np.ndarray:
    """A family's mean latent [Z]: at ``pitch`` where the instrument stores its means by pitch, else (or
    for ``pitch`` None) over all its training notes.

    Raises
    ------
    InputError
        For a family the instrument does not know (the message lists those it does), or a pitch
        outside the trained range.
    """
    key = MEAN_LATENT + family
    if key not in instrument.extras:
        known = ", ".join(families(instrument)) or "none (retrain the instrument)"
        raise InputError(f"instrument {instrument.name!r} has no family {family!r} (nor is it a note file); "
                         f"it knows: {known}")
    table = instrument.extras.get(PITCH_LATENT + family)
    if pitch is None or table is None:
        return instrument.extras[key].detach().cpu().numpy().astype(np.float32)
    _model(instrument).check_pitch(torch.tensor([int(pitch)]))
    return table[int(pitch) - instrument.model.pitch_range[0]].detach().cpu().numpy().astype(np.float32)


# ---------------------------------------------------------------------------
# encode / decode / sample / interpolate
# ---------------------------------------------------------------------------


def encode(instrument: Instrument, audio: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Posterior means and standard deviations of notes ``audio`` [N, n_samples] -> ([N, Z], [N, Z])."""
    model = _model(instrument)
    audio = np.array(audio, dtype=np.float32)  # a writable copy: torch.from_numpy below
    if audio.ndim == 1:
        audio = audio[None]
    n = instrument.config.model.spectrogram.n_samples
    if audio.ndim != 2 or audio.shape[1] != n:
        raise InputError(f"expected notes of {n} samples, got shape {audio.shape}")
    with torch.inference_mode():
        mu, sigma = model.encode(spectrogram(instrument).analyze(torch.from_numpy(audio)))
    return mu.numpy(), sigma.numpy()


def decode_spectrograms(
    instrument: Instrument, z: np.ndarray, pitch, velocity=100
) -> np.ndarray:
    """Normalised log-spectrograms [N, n_bins, n_frames] of latents [N, Z] at ``pitch`` (and ``velocity``)."""
    model = _model(instrument)
    z = torch.as_tensor(np.asarray(z, dtype=np.float32))
    if z.ndim == 1:
        z = z[None]
    pitch = torch.as_tensor(np.broadcast_to(np.asarray(pitch), (z.shape[0],)).copy(), dtype=torch.long)
    velocity = torch.as_tensor(np.broadcast_to(np.asarray(velocity, dtype=np.float32), (z.shape[0],)).copy())
    with torch.inference_mode():
        return model.decode(z, pitch, velocity).numpy()


def invert(instrument: Instrument, spectrograms: np.ndarray, *, iters: int | None = None) -> np.ndarray:
    """Audio [N, n_samples] of normalised log-spectrograms [N, n_bins, n_frames] (fast Griffin-Lim)."""
    spec_cfg = instrument.config.model.spectrogram
    with torch.inference_mode():
        audio = spectrogram(instrument).invert(
            torch.as_tensor(spectrograms), iters=spec_cfg.inversion_iters if iters is None else iters
        )
    return audio.numpy().astype(np.float32)


def decode(instrument: Instrument, z: np.ndarray, pitch, velocity=100, *, iters: int | None = None) -> np.ndarray:
    """Audio notes [N, n_samples] of latents [N, Z] at MIDI ``pitch`` ([N] or one int).

    Raises
    ------
    InputError
        If a pitch lies outside the range the instrument was trained on.
    """
    return invert(instrument, decode_spectrograms(instrument, z, pitch, velocity), iters=iters)


def sample(
    instrument: Instrument, *, n: int = 8, pitch: int = 60, velocity: int = 100, seed: int | None = None
) -> np.ndarray:
    """Decode ``n`` latents drawn from the prior N(0, I) at one pitch -> audio [n, n_samples]."""
    if n < 1:
        raise InputError(f"-n must be at least 1, got {n}")
    generator = torch.Generator().manual_seed(seed) if seed is not None else None
    z = torch.randn(n, instrument.config.model.z_dim, generator=generator).numpy()
    return decode(instrument, z, pitch, velocity)


def interpolate(
    instrument: Instrument, a: np.ndarray, b: np.ndarray, *, steps: int = 5, method: str = "slerp"
) -> np.ndarray:
    """``steps`` latents from ``a`` to ``b`` ([Z] each), endpoints included -> [steps, Z]."""
    if steps < 2:
        raise InputError(f"--steps must be at least 2 (the two endpoints), got {steps}")
    if method not in ("slerp", "lerp"):
        raise InputError(f"unknown interpolation {method!r}; use slerp or lerp")
    path = interpolate_latents(torch.as_tensor(a), torch.as_tensor(b), steps=steps, method=method)
    return path.numpy()


def mix_latent(a: np.ndarray, b: np.ndarray, amount: float, *, method: str = "slerp") -> np.ndarray:
    """The latent ``amount`` of the way from ``a`` to ``b`` (0 = a, 1 = b)."""
    if not 0.0 <= amount <= 1.0:
        raise InputError(f"morph amount must lie in 0..1, got {amount:g}")
    fn = slerp if method == "slerp" else lerp
    return fn(torch.as_tensor(a), torch.as_tensor(b), float(amount)).numpy()


def family_mix(instrument: Instrument, source: str, target: str, amount: float, *, pitch: int | None = None,
               method: str = "slerp") -> np.ndarray:
    """The latent [Z] ``amount`` of the way from family ``source`` to ``target`` at ``pitch``
    (:func:`family_latent`, :func:`mix_latent`): what the live synth decodes and the nn~ module stores."""
    return mix_latent(family_latent(instrument, source, pitch), family_latent(instrument, target, pitch),
                      amount, method=method)


# ---------------------------------------------------------------------------
# blend
# ---------------------------------------------------------------------------


@dataclass
class Blend:
    """The decoded steps of a blend, A first, B last.

    Attributes
    ----------
    audio : np.ndarray [steps, n_samples]
    spectrograms : np.ndarray [steps, n_bins, n_frames]
        What the decoder produced (normalised log scale).
    amounts : np.ndarray [steps]
        Morph amount of each step (0 = A, 1 = B).
    pitch : int
    labels : tuple of str
        Names of A and B.
    sample_rate : int
    notes : list of str
        What was read from a user's note files (their pitches).
    band_hz : np.ndarray [n_bins], optional
        Centre frequency of each spectrogram row, for plots.
    warnings : list of str
        A user's note whose pitch is not the pitch every step is played at (its timbre is moved there).
    level : str
        How the level was set, when it was changed: a user's note matched to the training notes' level,
        or the whole blend scaled down so that it does not clip; else "".
    """

    audio: np.ndarray
    spectrograms: np.ndarray
    amounts: np.ndarray
    pitch: int
    labels: tuple[str, str]
    sample_rate: int
    notes: list[str] = field(default_factory=list)
    band_hz: np.ndarray | None = None
    warnings: list[str] = field(default_factory=list)
    level: str = ""

    def messages(self) -> list[str]:
        """The lines ``musicvae blend`` prints on stderr before the files it writes."""
        return ([f"read {note}" for note in self.notes] + [f"warning: {w}" for w in self.warnings]
                + ([f"level: {self.level}"] if self.level else []))


def training_level(instrument: Instrument) -> float:
    """The median RMS level (dBFS) of the instrument's training notes (its recipe's; see
    :func:`musicvae.kinds.timbre.data.training_level_db`): what a user's note is encoded and played at."""
    from musicvae.kinds.timbre.data import training_level_db

    return training_level_db(instrument.require_kind("timbre").config.data)


#: The most of a user's note file that is read (seconds): a note is its first onset, not a whole recording.
NOTE_FILE_SECONDS = 30.0
#: The top of :func:`musicvae.audio.loaders.estimate_pitch`'s search (C8): a note estimated there may lie higher.
_PYIN_TOP = 108


def note_latent(instrument: Instrument, path: str | Path) -> tuple[np.ndarray, int]:
    """The latent mean [Z] of a user's note file and its pitch (from the file name or pYIN).

    The note is encoded at the training notes' RMS level (:func:`training_level`), not at the training
    notes' peak: a sine or a sawtooth at that peak is about 10 dB louder than any note the encoder learnt.
    """
    z, pitch, _, _ = _user_note(instrument, path)
    return z, pitch


def _user_note(instrument: Instrument, path: str | Path) -> tuple[np.ndarray, int, str, list[str]]:
    """(latent [Z], pitch, what was read, warnings) of a user's note file; see :func:`note_latent`."""
    import soundfile

    from musicvae.audio.loaders import read_audio, read_note

    spec_cfg = instrument.config.model.spectrogram
    path = Path(path)
    read_audio(path, sample_rate=spec_cfg.sample_rate, max_seconds=0.01)  # a missing or unreadable file: one line
    info = soundfile.info(str(path))
    note = read_note(path, sample_rate=spec_cfg.sample_rate, n_samples=spec_cfg.n_samples,
                     level_db=training_level(instrument), max_seconds=NOTE_FILE_SECONDS)
    mu, _ = encode(instrument, note.audio[None])
    channels = {1: "mono", 2: "stereo"}.get(info.channels, f"{info.channels} channels")
    read = f"{path.name}: pitch {note.pitch}"
    if info.channels != 1 or info.samplerate != spec_cfg.sample_rate:
        read += f" ({channels} {info.samplerate} Hz, read as mono {spec_cfg.sample_rate} Hz)"
    warnings = []
    seconds = info.frames / info.samplerate
    if seconds > NOTE_FILE_SECONDS:
        warnings.append(f"{path.name} lasts {seconds / 60:.1f} minutes; a note file holds one note: its first "
                        f"{spec_cfg.n_samples / spec_cfg.sample_rate:g} s from the first onset is the note")
    low, high = instrument.model.pitch_range
    if not low <= note.pitch <= high:
        heard = f"MIDI {note.pitch} ({_note_name(note.pitch)})" + (" or above" if note.pitch >= _PYIN_TOP else "")
        warnings.append(f"{path.name} sounds at {heard}, outside the MIDI {low}..{high} this instrument was "
                        f"trained on: its timbre is read from where the encoder never learnt one")
    return mu[0], note.pitch, read, warnings


def blend(
    instrument: Instrument,
    *,
    pitch: int | None = None,
    steps: int = 5,
    source: str | Path = "flute",
    target: str | Path = "guitar",
    velocity: int = 100,
    method: str = "slerp",
) -> Blend:
    """Decode the latent path from ``source`` to ``target`` at one pitch.

    Parameters
    ----------
    instrument : Instrument
        A timbre instrument.
    pitch : int, optional, keyword-only
        MIDI pitch of every step; default: the pitch of a ``source`` file, else 60.
    steps : int
        Outputs, endpoints included.
    source, target : str or Path
        A family name (its mean training latent) or an audio file of one note.
    velocity : int
    method : {"slerp", "lerp"}

    Raises
    ------
    InputError
        Unknown family, unreadable or silent note file, or a pitch outside the trained range.
    """
    notes: list[str] = []
    found: dict[str, int] = {}  # a user's note file -> its pitch
    read_warnings: list[str] = []

    def endpoint(value: str | Path) -> tuple[np.ndarray | None, int | None, str]:
        """A user's note: its latent and pitch; a family: None (its latent depends on the pitch played)."""
        text = str(value)
        if Path(text).suffix.lower() in (".wav", ".flac", ".ogg", ".aif", ".aiff") or Path(text).is_file():
            z, found[Path(text).name], read, warned = _user_note(instrument, text)
            notes.append(read)
            read_warnings.extend(warned)
            return z, found[Path(text).name], Path(text).stem
        family_latent(instrument, text)  # an unknown family is an error before any note file is read
        return None, None, text

    za, pitch_a, label_a = endpoint(source)
    zb, pitch_b, label_b = endpoint(target)
    low, high = instrument.model.pitch_range
    if pitch is None and pitch_a is not None and not low <= pitch_a <= high:
        raise InputError(f"{Path(str(source)).name} sounds at MIDI {pitch_a}, outside the range this instrument "
                         f"was trained on (MIDI {low}..{high}); choose the pitch to play with --pitch {low}..{high}")
    if pitch is None:
        pitch = pitch_a if pitch_a is not None else 60
    _model(instrument).check_pitch(torch.tensor([pitch]))
    za = family_latent(instrument, label_a, pitch) if za is None else za
    zb = family_latent(instrument, label_b, pitch) if zb is None else zb
    warnings = read_warnings + [
        f"{name} sounds at MIDI {heard} ({_note_name(heard)}), but every step plays at MIDI {pitch} "
        f"({_note_name(pitch)}): its timbre is moved there (--pitch N chooses the pitch)"
        for name, heard in found.items() if heard != pitch and low <= heard <= high]
    path = interpolate(instrument, za, zb, steps=steps, method=method)
    spectrograms = decode_spectrograms(instrument, path, pitch, velocity)
    audio = invert(instrument, spectrograms)
    amounts = np.linspace(0.0, 1.0, steps)
    level = []
    if found:
        audio = _level_user_blend(audio, amounts, training_level(instrument), user=(pitch_a is not None,
                                                                                   pitch_b is not None))
        level.append(f"notes matched to the training notes' level ({training_level(instrument):.1f} dBFS RMS)")
    audio, scaled = _no_clip(audio)
    if scaled:
        level.append(scaled)
    return Blend(
        audio=audio,
        spectrograms=spectrograms,
        amounts=amounts,
        pitch=int(pitch),
        labels=(label_a, label_b),
        sample_rate=sample_rate(instrument),
        notes=notes,
        band_hz=spectrogram(instrument).frequencies,
        warnings=warnings,
        level="; ".join(level),
    )


#: How many corners a pad has (NSynth Super's: one instrument at each corner of a square).
PAD_CORNERS = 4


def pad_latent(instrument: Instrument, corners, xy: tuple[float, float], *, pitch: int | None = None) -> np.ndarray:
    """The bilinear point ``xy`` between four families' mean latents (at ``pitch``, :func:`family_latent`) -> [Z].

    Corners are ``a, b, c, d`` at (x, y) = (0, 0), (1, 0), (0, 1), (1, 1): x runs from a to b (and c to
    d), y from the bottom row (a, b) to the top (c, d), so ``z = (1-x)(1-y) a + x(1-y) b + (1-x)y c + xy d``
    (straight lines in latent space, as NSynth Super's pad mixes its four corners).

    Raises
    ------
    InputError
        For corners that are not four different families of the instrument (the message lists its
        families), or a point outside [0, 1] x [0, 1].
    """
    corners = [str(c) for c in corners]
    known = families(instrument)
    if len(corners) != PAD_CORNERS:
        raise InputError(f"a pad has {PAD_CORNERS} corners (a,b,c,d), got {len(corners)}: {','.join(corners)}")
    if len(known) < PAD_CORNERS:
        raise InputError(f"instrument {instrument.name!r} has {len(known)} families ({', '.join(known) or 'none'}); "
                         f"a pad needs {PAD_CORNERS} (blend two with --from and --to)")
    if len(set(corners)) != PAD_CORNERS:
        raise InputError(f"a pad's {PAD_CORNERS} corners must be different families of {', '.join(known)}; "
                         f"got {','.join(corners)}")
    x, y = (float(v) for v in xy)
    if not (0.0 <= x <= 1.0 and 0.0 <= y <= 1.0):
        raise InputError(f"a pad point lies in 0..1 on each axis, got {x:g},{y:g}")
    a, b, c, d = (family_latent(instrument, name, pitch) for name in corners)
    return ((1 - x) * (1 - y) * a + x * (1 - y) * b + (1 - x) * y * c + x * y * d).astype(np.float32)


def pad(instrument: Instrument, corners, xy: tuple[float, float], *, pitch: int | None = None,
        velocity: int = 100) -> Blend:
    """Decode the note at point ``xy`` of the pad between four families (:func:`pad_latent`) -> a one-step
    :class:`Blend` (labelled with the corners and the point), at ``pitch`` (default 60)."""
    pitch = 60 if pitch is None else int(pitch)
    _model(instrument).check_pitch(torch.tensor([pitch]))
    z = pad_latent(instrument, corners, xy, pitch=pitch)
    spectrograms = decode_spectrograms(instrument, z[None], pitch, velocity)
    audio, scaled = _no_clip(invert(instrument, spectrograms))
    label = f"{','.join(corners)} at {xy[0]:g},{xy[1]:g}"
    return Blend(audio=audio, spectrograms=spectrograms, amounts=np.zeros(1), pitch=pitch, labels=(label, label),
                 sample_rate=sample_rate(instrument), band_hz=spectrogram(instrument).frequencies, level=scaled)


def _note_name(pitch: int) -> str:
    return ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")[pitch % 12] + str(pitch // 12 - 1)


def _level_user_blend(audio: np.ndarray, amounts: np.ndarray, level_db: float, *, user: tuple[bool, bool]):
    """Steps [K, n] at the level a blend with a user's note at one end or both has: ``level_db`` at a user's
    end, the decoded step's own level at a family's end, in between moving linearly in dB with the amount.

    The decoder's level for a note unlike its training notes is its own guess (it played a sawtooth 11 dB
    louder than the training notes' level); this puts the user's notes where the training notes are.
    """
    from musicvae.audio.loaders import rms_db

    levels = np.array([rms_db(step) for step in audio])
    if not np.isfinite(levels).all():
        return audio
    ends = [level_db if user[0] else levels[0], level_db if user[1] else levels[-1]]
    wanted = ends[0] + (ends[1] - ends[0]) * amounts
    gains = (10.0 ** ((wanted - levels) / 20.0)).astype(np.float32)
    return (audio * gains[:, None]).astype(np.float32)


def _no_clip(audio: np.ndarray) -> tuple[np.ndarray, str]:
    """``audio`` scaled down as a whole so that it peaks at :data:`musicvae.render.PEAK` if it was above
    (a blend is never clipped), and the line that says so; else unchanged and ""."""
    from musicvae.render import PEAK, fit_level

    top = float(np.max(np.abs(audio))) if audio.size else 0.0
    if top <= PEAK:
        return audio, ""
    return fit_level(audio, peak=PEAK), (f"scaled down {20 * np.log10(top / PEAK):.1f} dB as a whole so that it "
                                         f"does not clip (peak {top:.2f} -> {PEAK:.2f})")


def concatenate(notes: np.ndarray, *, sample_rate: int, gap: float = NOTE_GAP) -> np.ndarray:
    """Notes [K, n] one after another with ``gap`` seconds of silence between -> [samples]."""
    silence = np.zeros(int(round(gap * sample_rate)), dtype=np.float32)
    parts = []
    for i, note in enumerate(notes):
        parts += [note] + ([silence] if i < len(notes) - 1 else [])
    return np.concatenate(parts).astype(np.float32) if parts else np.zeros(0, np.float32)


# ---------------------------------------------------------------------------
# Playing a MIDI melody
# ---------------------------------------------------------------------------


def play_midi(instrument: Instrument, path: str | Path, *, morph: str | float = 0.5, **kwargs) -> np.ndarray:
    """Render a MIDI file offline with the blended instrument -> mono audio [samples] at its sample rate.

    The synth engine plays it, exactly as ``synth --midi-file`` does: see :func:`musicvae.render.render_midi`
    for the rules (morph steps, velocity, voices, level) and the keyword arguments.
    """
    from musicvae.render import render_midi

    return render_midi(instrument, path, morph=morph, **kwargs)


# ---------------------------------------------------------------------------
# Writing
# ---------------------------------------------------------------------------


def write_audio(audio: np.ndarray, path: str | Path, *, sample_rate: int) -> Path:
    """Write mono ``audio`` [samples] atomically; the format follows the suffix (.wav, .flac, .ogg)."""
    import soundfile

    path = Path(path)
    if path.suffix.lower() not in (".wav", ".flac", ".ogg"):
        raise InputError(f"{path}: write .wav, .flac or .ogg")
    from musicvae.io import atomic_path

    with atomic_path(path) as tmp:
        soundfile.write(str(tmp), np.asarray(audio, dtype=np.float32), int(sample_rate))
    return path


def write_blend(
    result: Blend, path: str | Path, *, per_step: bool = False, plot: str | Path | None = None
) -> list[Path]:
    """Write a blend's steps one after another to ``path``; optionally one file per step and a PNG strip."""
    path = Path(path)
    written = [write_audio(concatenate(result.audio, sample_rate=result.sample_rate), path,
                           sample_rate=result.sample_rate)]
    if per_step:
        for i, note in enumerate(result.audio):
            step_path = path.with_name(f"{path.stem}_step{i:02d}{path.suffix or '.wav'}")
            written.append(write_audio(note, step_path, sample_rate=result.sample_rate))
    if plot:
        a, b = result.labels
        titles = [f"{a}" if i == 0 else f"{b}" if i == len(result.amounts) - 1 else f"{amount:.2f}"
                  for i, amount in enumerate(result.amounts)]
        written.append(spectrogram_strip(result.spectrograms, plot, titles=titles,
                                         suptitle=f"{a} -> {b} at MIDI {result.pitch}", band_hz=result.band_hz,
                                         seconds=result.audio.shape[-1] / result.sample_rate))
    return written


def spectrogram_strip(
    spectrograms: np.ndarray,
    path: str | Path,
    *,
    titles: list[str] | None = None,
    suptitle: str = "",
    band_hz: np.ndarray | None = None,
    seconds: float | None = None,
) -> Path:
    """Draw log-spectrograms [K, n_bins, n_frames] side by side into a PNG (atomically).

    ``band_hz`` [n_bins] (each row's frequency) labels the frequency axis in Hz, and
    ``seconds`` (each spectrogram's length) the time axis; without them the axes count rows.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from musicvae.io import atomic_path

    spectrograms = np.asarray(spectrograms)
    k = len(spectrograms)
    if k == 0:
        raise InputError("nothing to plot")
    figure = Figure(figsize=(1.8 * k + 0.8, 2.7), dpi=110, layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots(1, k, squeeze=False, sharey=True)[0]
    low, high = float(spectrograms.min()), float(spectrograms.max())
    rows, frames = spectrograms.shape[-2:]
    for i, (ax, spec) in enumerate(zip(axes, spectrograms)):
        ax.imshow(spec, origin="lower", aspect="auto", cmap="magma", vmin=low, vmax=high)
        if seconds is None:
            ax.set_xticks([])
        else:
            ax.set_xticks([0, frames - 1], ["0", f"{seconds:g} s"], fontsize=7)
        if titles:
            ax.set_title(titles[i], fontsize=9)
    if band_hz is None:
        axes[0].set_yticks([0, rows - 1])
        axes[0].set_ylabel("frequency bin")
    else:
        axes[0].set_yticks(*frequency_ticks(band_hz), fontsize=7)
        axes[0].set_ylabel("Hz")
    if suptitle:
        figure.suptitle(suptitle, fontsize=10)
    with atomic_path(path) as tmp:
        figure.savefig(tmp, format="png")
    return Path(path)


def frequency_ticks(band_hz: np.ndarray) -> tuple[list[int], list[str]]:
    """Rows nearest 100 Hz, 250 Hz, 500 Hz, 1k, 2k, 4k, 8k, 16k (those inside ``band_hz``) and their labels."""
    band_hz = np.asarray(band_hz, dtype=float)
    rows, labels = [], []
    for hz in (100, 250, 500, 1000, 2000, 4000, 8000, 16000):
        if band_hz[0] <= hz <= band_hz[-1]:
            rows.append(int(np.abs(band_hz - hz).argmin()))
            labels.append(f"{hz // 1000}k" if hz >= 1000 else str(hz))
    return rows, labels


def require_extras(instrument: Instrument) -> None:
    """Raise InstrumentError if a timbre instrument lacks its mean latents."""
    if not families(instrument):
        raise InstrumentError(f"instrument {instrument.name!r} stores no family latents; retrain it")
