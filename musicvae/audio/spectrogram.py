"""Log-magnitude spectrograms of fixed-length notes, and their inversion to audio.

Analysis is ``torch.stft`` (periodic Hann window, centred frames, zero
padding, as librosa does) followed by an optional mel projection with
librosa's filters, a dB scale with a floor, and a fixed affine normalisation
to about [-1, 1].

Mel or linear? Measured on FluidSynth flute and guitar notes (16 kHz, n_fft
1024, hop 256, 32 iterations; ``bench/bench_inversion.py``), spectral
convergence against the original STFT magnitude: from the linear magnitude
our inversion reaches -38 dB (librosa's Griffin-Lim -24 dB); from an 80-band
mel it reaches -15 dB (librosa's ``mel_to_audio`` -9 to -12 dB), because the
mel projection throws away the fine harmonic structure above ~1 kHz that no
phase can restore. So linear inverts better, and ``n_mels = 0`` gives it (the
GPU config uses it). The small config still takes the 80-band mel: it is 6.4x
fewer values per frame, which is what lets a ~0.9M-parameter model train on
one CPU core in well under an hour and decode in a few milliseconds, and the
inverted mel notes keep what the instrument is judged on, their pitch and
their flute or guitar character (``musicvae evaluate``).

Inversion is fast Griffin-Lim (Perraudin et al. 2013, momentum 0.99) in torch.
For a mel spectrogram the magnitude constraint is the mel projection itself,
not a fixed linear guess: every iteration keeps the fine structure of the
consistent spectrogram's magnitude and rescales each bin by the ratio of
target to current mel energy of the bands covering it. Fixing a linear guess
first (the pseudo-inverse or a weighted transpose) smears the harmonics: it
measured 6.2 dB log-mel distance after inversion against 1.2 dB this way, and
multiplicative NNLS-style updates before Griffin-Lim closed only half the gap.

The initial phase is the time-direction half of phase-gradient heap
integration (PGHI, Prusa et al. 2017): each bin's instantaneous frequency is
read from the frequency slope of the log-magnitude under a Gaussian
approximation of the Hann window and integrated along time, a vectorised
cumulative sum. The heap that PGHI uses to integrate across frequency at
onsets is left out. From linear magnitudes it measured -38 dB after 32
iterations against -24 dB from random phase; from mel it is level with
random, and costs nothing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import torch
from torch import Tensor

#: Hann window time-frequency spread, gamma = 0.25645 * L^2 (Prusa et al. 2017, table 1).
HANN_GAMMA = 0.25645
#: Phase reconstruction settings measured good (bench/bench_inversion.py).
DEFAULT_ITERS = 32
DEFAULT_MOMENTUM = 0.99
INITS = ("phase-gradient", "random", "zeros")


class Spectrogram:
    """Analysis and inversion at one fixed setting, for notes of ``n_samples`` samples.

    Parameters
    ----------
    sample_rate : int
        Audio rate in Hz (16 000 for NSynth-like notes).
    n_samples : int
        Note length in samples; inversion returns exactly this many.
    n_fft, hop_length : int
        STFT size and hop; the window is a periodic Hann of ``n_fft`` samples.
    n_mels : int
        Mel bands (librosa's Slaney filters); 0 means the linear STFT magnitude.
    fmin, fmax : float
        Mel range in Hz (``fmax`` 0 means Nyquist).
    floor_db : float
        Magnitudes are clamped to this many dB (re 1.0) before the log, so silence is finite.
        Notes peak near +14 dB (peak -6 dBFS, n_fft 1024); -80 dB keeps 94 dB of range without
        spending the loss on a noise floor no one hears.
    norm_center_db, norm_scale_db : float
        ``x = (dB - center) / scale``: with the defaults, the floor -> -1 and the loudest bins -> ~0.9.
    """

    def __init__(
        self,
        *,
        sample_rate: int,
        n_samples: int,
        n_fft: int = 1024,
        hop_length: int = 256,
        n_mels: int = 80,
        fmin: float = 0.0,
        fmax: float = 0.0,
        floor_db: float = -80.0,
        norm_center_db: float = -30.0,
        norm_scale_db: float = 50.0,
    ) -> None:
        self.sample_rate = int(sample_rate)
        self.n_samples = int(n_samples)
        self.n_fft = int(n_fft)
        self.hop_length = int(hop_length)
        self.n_mels = int(n_mels)
        self.fmin = float(fmin)
        self.fmax = float(fmax) if fmax else self.sample_rate / 2
        self.floor_db = float(floor_db)
        self.norm_center_db = float(norm_center_db)
        self.norm_scale_db = float(norm_scale_db)
        self.window = torch.hann_window(self.n_fft, periodic=True)

    # -- shapes ---------------------------------------------------------------

    @property
    def n_bins(self) -> int:
        """Rows of the log-spectrogram: mel bands, or linear bins ``n_fft // 2 + 1``."""
        return self.n_mels or self.n_fft // 2 + 1

    @property
    def n_frames(self) -> int:
        """Columns of the log-spectrogram of one note (centred frames)."""
        return 1 + self.n_samples // self.hop_length

    @property
    def shape(self) -> tuple[int, int]:
        """``(n_bins, n_frames)``."""
        return self.n_bins, self.n_frames

    @cached_property
    def frequencies(self) -> np.ndarray:
        """[n_bins] centre frequency in Hz of each row (mel band centres, or linear bin frequencies)."""
        import librosa

        if self.n_mels:
            # The Slaney filters' peaks: the inner points of n_mels + 2 mel-spaced edges.
            return librosa.mel_frequencies(self.n_mels + 2, fmin=self.fmin, fmax=self.fmax)[1:-1]
        return np.fft.rfftfreq(self.n_fft, 1.0 / self.sample_rate)

    @cached_property
    def mel_basis(self) -> Tensor:
        """[n_mels, n_fft // 2 + 1] librosa (Slaney) mel filters."""
        import librosa

        basis = librosa.filters.mel(
            sr=self.sample_rate, n_fft=self.n_fft, n_mels=self.n_mels, fmin=self.fmin, fmax=self.fmax
        )
        return torch.from_numpy(basis.astype(np.float32))

    @cached_property
    def inversion_plan(self) -> GriffinLimPlan:
        """The :class:`GriffinLimPlan` every :meth:`invert_magnitude` of this setting shares."""
        return griffin_lim_plan(n_fft=self.n_fft, hop_length=self.hop_length, length=self.n_samples,
                                window=self.window, mel_basis=self.mel_basis if self.n_mels else None)

    @cached_property
    def mel_inverse(self) -> Tensor:
        """[n_fft // 2 + 1, n_mels] approximate inverse of the mel projection (see :func:`mel_inverse`)."""
        return mel_inverse(self.mel_basis)

    # -- analysis -------------------------------------------------------------

    def stft(self, audio: Tensor) -> Tensor:
        """Complex STFT of ``audio`` [..., n_samples] -> [..., n_fft // 2 + 1, n_frames]."""
        audio = torch.as_tensor(audio, dtype=torch.float32)
        lead = audio.shape[:-1]
        spec = torch.stft(
            audio.reshape(-1, audio.shape[-1]),
            self.n_fft,
            self.hop_length,
            window=self.window.to(audio.device),
            center=True,
            pad_mode="constant",
            return_complex=True,
        )
        return spec.reshape(*lead, *spec.shape[-2:])

    def magnitude(self, audio: Tensor) -> Tensor:
        """Linear STFT magnitude of ``audio`` [..., n_samples] -> [..., n_fft // 2 + 1, n_frames]."""
        return self.stft(audio).abs()

    def to_log(self, magnitude: Tensor) -> Tensor:
        """Normalised log-spectrogram [..., n_bins, T] of a linear magnitude [..., n_fft // 2 + 1, T]."""
        if self.n_mels:
            magnitude = torch.matmul(self.mel_basis.to(magnitude.device), magnitude)
        db = 20.0 * torch.log10(magnitude.clamp_min(10.0 ** (self.floor_db / 20.0)))
        return (db - self.norm_center_db) / self.norm_scale_db

    def analyze(self, audio: Tensor) -> Tensor:
        """Normalised log-spectrogram of notes ``audio`` [..., n_samples] -> [..., n_bins, n_frames]."""
        return self.to_log(self.magnitude(audio))

    def log_to_db(self, logspec: Tensor) -> Tensor:
        """Undo the normalisation: dB values of ``logspec`` (same shape)."""
        return torch.as_tensor(logspec) * self.norm_scale_db + self.norm_center_db

    def from_log(self, logspec: Tensor) -> Tensor:
        """Magnitudes [..., n_bins, T] (mel or linear, as analysed) of a normalised log-spectrogram."""
        return 10.0 ** (self.log_to_db(logspec) / 20.0)

    def linear_estimate(self, logspec: Tensor) -> Tensor:
        """A linear STFT magnitude guess [..., n_fft // 2 + 1, T] (mel bands spread over their bins)."""
        magnitude = self.from_log(logspec)
        if self.n_mels:
            magnitude = torch.matmul(self.mel_inverse.to(magnitude.device), magnitude)
        return magnitude

    # -- inversion ------------------------------------------------------------

    def invert(
        self,
        logspec: Tensor,
        *,
        iters: int = DEFAULT_ITERS,
        momentum: float = DEFAULT_MOMENTUM,
        init: str = "phase-gradient",
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """Audio [..., n_samples] of normalised log-spectrograms [..., n_bins, n_frames]."""
        return self.invert_magnitude(
            self.from_log(torch.as_tensor(logspec, dtype=torch.float32).detach()),
            iters=iters,
            momentum=momentum,
            init=init,
            generator=generator,
        )

    def invert_magnitude(
        self,
        magnitude: Tensor,
        *,
        iters: int = DEFAULT_ITERS,
        momentum: float = DEFAULT_MOMENTUM,
        init: str = "phase-gradient",
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """Audio [..., n_samples] of magnitudes [..., n_bins, n_frames] (mel when ``n_mels``, else linear)."""
        magnitude = torch.as_tensor(magnitude)
        # The shared plan lives where the window does; magnitudes elsewhere (a GPU) get a plan there per call.
        shared = magnitude.device == self.window.device
        return griffin_lim(
            magnitude,
            n_fft=self.n_fft,
            hop_length=self.hop_length,
            length=self.n_samples,
            window=self.window,
            iters=iters,
            momentum=momentum,
            init=init,
            generator=generator,
            mel_basis=self.mel_basis if self.n_mels else None,
            plan=self.inversion_plan if shared else None,
        )


def mel_inverse(mel_basis: Tensor) -> Tensor:
    """[F, M] approximate inverse of mel filters [M, F]: each bin takes the weighted mean of its bands.

    Slaney filters have unit area, not unit height, so each band is first
    divided by its gain: a flat spectrum maps back to itself exactly.
    """
    band_gain = mel_basis.sum(dim=1).clamp_min(1e-8)  # [M]
    bin_weight = mel_basis.sum(dim=0).clamp_min(1e-8)  # [F]
    return mel_basis.T / bin_weight[:, None] / band_gain[None, :]


def phase_gradient_init(magnitude: Tensor, *, n_fft: int, hop_length: int) -> Tensor:
    """Initial phase [..., F, T] by integrating each bin's instantaneous frequency along time.

    Under a Gaussian window of spread ``gamma`` (samples^2) a partial at
    frequency ``nu0`` has ``log|X(nu)| = -pi * gamma * (nu - nu0)^2 + c``, so
    the log-magnitude slope across bins gives every bin the frequency of the
    partial it belongs to: ``nu0 = nu + slope / (2 pi gamma)``. The phase of a
    frame-origin STFT advances by ``2 pi * nu0 * hop`` per frame.

    Parameters
    ----------
    magnitude : Tensor [..., n_fft // 2 + 1, T]
    n_fft, hop_length : int

    Returns
    -------
    Tensor [..., n_fft // 2 + 1, T], radians
    """
    gamma = HANN_GAMMA * n_fft**2
    log_mag = torch.log(magnitude.clamp_min(1e-7))
    # Central difference per cycle/sample (bins are 1/n_fft apart); one-sided at the edges.
    slope = torch.zeros_like(log_mag)
    slope[..., 1:-1, :] = (log_mag[..., 2:, :] - log_mag[..., :-2, :]) * (n_fft / 2.0)
    bins = torch.arange(magnitude.shape[-2], dtype=magnitude.dtype, device=magnitude.device).unsqueeze(-1)
    nu = bins / n_fft + slope / (2.0 * math.pi * gamma)
    advance = 2.0 * math.pi * hop_length * nu
    # Phase of frame t is the sum of the advances before it; frame 0 starts at 0.
    phase = torch.cumsum(advance, dim=-1) - advance
    return torch.remainder(phase, 2.0 * math.pi)


@dataclass(frozen=True)
class GriffinLimPlan:
    """What every inversion at one setting shares: the overlap-add of its frames and its mel tensors.

    Built once per :class:`Spectrogram` (its ``inversion_plan``): recomputing them took 0.5 ms of a
    note's ~10-ms inversion on one thread. ``mel_inverse`` [F, M], ``project`` [F, M] (the mel
    filters, transposed) and ``spread`` [M, F] (each bin's weighted mean over the bands covering it,
    transposed) are None for a linear magnitude.
    """

    n_fft: int
    hop_length: int
    length: int
    frames: int
    rows: int
    ola: _OverlapAdd
    mel_inverse: Tensor | None = None
    project: Tensor | None = None
    spread: Tensor | None = None


def griffin_lim_plan(*, n_fft: int, hop_length: int, length: int, window: Tensor | None = None,
                     mel_basis: Tensor | None = None) -> GriffinLimPlan:
    """The :class:`GriffinLimPlan` of :func:`griffin_lim` for these settings (arguments as there)."""
    if n_fft % hop_length:
        raise ValueError(f"n_fft {n_fft} must be a multiple of the hop {hop_length}")
    if window is None:
        window = torch.hann_window(n_fft, periodic=True)
    frames = 1 + length // hop_length
    ola = _OverlapAdd(n_fft=n_fft, hop_length=hop_length, frames=frames, length=length, window=window)
    if mel_basis is None:
        return GriffinLimPlan(n_fft, hop_length, length, frames, n_fft // 2 + 1, ola)
    mel_basis = mel_basis.to(window.device)
    spread = mel_basis.T / mel_basis.sum(dim=0).clamp_min(1e-8)[:, None]  # [F, M]
    return GriffinLimPlan(n_fft, hop_length, length, frames, mel_basis.shape[0], ola,
                          mel_inverse=mel_inverse(mel_basis), project=mel_basis.T.contiguous(),
                          spread=spread.T.contiguous())


def griffin_lim(
    magnitude: Tensor,
    *,
    n_fft: int,
    hop_length: int,
    length: int,
    window: Tensor | None = None,
    iters: int = DEFAULT_ITERS,
    momentum: float = DEFAULT_MOMENTUM,
    init: str = "phase-gradient",
    generator: torch.Generator | None = None,
    mel_basis: Tensor | None = None,
    plan: GriffinLimPlan | None = None,
) -> Tensor:
    """Fast Griffin-Lim: audio whose STFT magnitude approaches ``magnitude``.

    Each iteration projects onto consistent spectrograms (iSTFT then STFT),
    extrapolates by ``momentum`` from the previous projection (Perraudin et al.
    2013; 0 gives plain Griffin-Lim), and restores the target magnitude.
    The transforms are the same as ``torch.stft``/``torch.istft`` (centred,
    zero-padded frames) but written out as rfft + overlap-add on a
    [frames, bins] layout, which measured 2x faster per iteration on one
    thread than calling them (``torch.istft`` dominates).

    With ``mel_basis`` the target is a mel spectrogram and the magnitude
    step matches the mel projection of the current estimate to it (see the
    module docstring).

    Parameters
    ----------
    magnitude : Tensor [..., n_fft // 2 + 1, T], or [..., n_mels, T] with ``mel_basis``
        Target magnitudes; ``T`` must be ``1 + length // hop_length``.
    n_fft, hop_length, length : int
        STFT size and hop (``n_fft`` a multiple of the hop); output length in samples.
    window : Tensor [n_fft], optional
        Defaults to a periodic Hann window.
    iters : int
        Projection iterations (0 returns the initial-phase signal).
    momentum : float
    init : {"phase-gradient", "random", "zeros"}
    generator : torch.Generator, optional
        For the random init.
    mel_basis : Tensor [n_mels, n_fft // 2 + 1], optional
        Mel filters that made ``magnitude``.
    plan : GriffinLimPlan, optional
        :func:`griffin_lim_plan` of the same settings on the magnitude's device, built once for many
        calls (then ``window`` and ``mel_basis`` are the plan's); None builds one here, on that device.

    Returns
    -------
    Tensor [..., length]
    """
    if init not in INITS:
        raise ValueError(f"unknown phase init {init!r}; choose one of {INITS}")
    magnitude = torch.as_tensor(magnitude, dtype=torch.float32)
    if plan is None:
        window = torch.hann_window(n_fft, periodic=True) if window is None else window
        plan = griffin_lim_plan(n_fft=n_fft, hop_length=hop_length, length=length,
                                window=window.to(magnitude.device), mel_basis=mel_basis)
    elif (plan.n_fft, plan.hop_length, plan.length) != (n_fft, hop_length, length):
        raise ValueError(f"the plan is for n_fft {plan.n_fft}, hop {plan.hop_length}, length {plan.length}")
    lead = magnitude.shape[:-2]
    frames, ola, mel = plan.frames, plan.ola, plan.project is not None
    if magnitude.shape[-1] != frames or magnitude.shape[-2] != plan.rows:
        raise ValueError(f"magnitude {tuple(magnitude.shape)} does not fit n_fft {n_fft}, hop {hop_length}, "
                         f"length {length}")
    target = magnitude.reshape(-1, *magnitude.shape[-2:])
    if mel:
        target = torch.matmul(plan.mel_inverse, target)
    mag = target.transpose(-1, -2).contiguous()  # [B, T, F]

    if init == "phase-gradient":
        phase = phase_gradient_init(mag.transpose(-1, -2), n_fft=n_fft, hop_length=hop_length).transpose(-1, -2)
    elif init == "random":
        phase = 2.0 * math.pi * torch.rand(mag.shape, generator=generator).to(mag.device)
    else:
        phase = torch.zeros_like(mag)
    # torch.complex of cos and sin: 2.4x faster than torch.polar on one thread, the same to 1e-7.
    spec = torch.complex(mag * torch.cos(phase), mag * torch.sin(phase))
    previous = torch.zeros_like(spec)
    # librosa's form of the fast Griffin-Lim update, which is stable for momentum < 1.
    step = momentum / (1.0 + momentum)
    if mel:
        # Everything on [B * T, bins] rows: plain 2-D matrix products, 3x faster than batched ones.
        rows, bins = mag.shape[0] * frames, mag.shape[-1]
        mel_target = magnitude.reshape(-1, *magnitude.shape[-2:]).transpose(-1, -2).reshape(rows, -1)
    for _ in range(iters):
        rebuilt = ola.stft(ola.istft_padded(spec))
        extrapolated = torch.add(rebuilt, previous, alpha=-step)
        previous = rebuilt
        if mel:
            # |z| via real and imaginary parts: 2.5x faster than complex abs() on one thread.
            current = (rebuilt.real.square() + rebuilt.imag.square()).sqrt().reshape(rows, bins)
            ratio = mel_target / torch.mm(current, plan.project).clamp_min(1e-10)
            mag = (current * torch.mm(ratio, plan.spread)).reshape(-1, frames, bins)
        # mag * sgn(z) as z times the real mag / |z|: 1.7x faster on one thread than torch.sgn and a
        # complex multiply (bench: 100 against 167 us for a [63, 513] note), the same to 2e-7.
        spec = extrapolated * (mag * (extrapolated.real.square() + extrapolated.imag.square()).clamp_min(1e-30).rsqrt())
    audio = ola.crop(ola.istft_padded(spec))
    return audio.reshape(*lead, length)


class _OverlapAdd:
    """Centred STFT/iSTFT on a [..., frames, bins] layout, equal to torch.stft/istft with zero padding."""

    def __init__(self, *, n_fft: int, hop_length: int, frames: int, length: int, window: Tensor) -> None:
        self.n_fft, self.hop, self.frames, self.length = n_fft, hop_length, frames, length
        self.window = window
        self.overlap = n_fft // hop_length
        self.padded = (frames + self.overlap - 1) * hop_length
        self.pad = n_fft // 2
        # The window-power envelope, all frames at once: 0.14 ms a note where a loop over frames took 0.32.
        starts = torch.arange(frames, device=window.device) * hop_length
        index = (starts[:, None] + torch.arange(n_fft, device=window.device)[None, :]).flatten()
        envelope = torch.zeros(self.padded, device=window.device).index_add_(0, index, window.square().repeat(frames))
        inside = torch.zeros_like(envelope)
        inside[self.pad : self.pad + length] = 1.0
        # Dividing by the window-power envelope and zeroing the padding in one multiply.
        self.inverse_envelope = inside / envelope.clamp_min(1e-8)

    def istft_padded(self, spec: Tensor) -> Tensor:
        """[B, T, F] complex -> [B, padded] real, zero outside the signal."""
        frames = torch.fft.irfft(spec, n=self.n_fft, dim=-1) * self.window
        batch = frames.shape[0]
        out = torch.zeros(batch, self.padded, device=spec.device)
        span = self.frames * self.hop
        for k in range(self.overlap):
            out[:, k * self.hop : k * self.hop + span] += frames[..., k * self.hop : (k + 1) * self.hop].reshape(
                batch, span
            )
        return out * self.inverse_envelope

    def stft(self, padded: Tensor) -> Tensor:
        """[B, padded] real -> [B, T, F] complex."""
        return torch.fft.rfft(padded.unfold(-1, self.n_fft, self.hop) * self.window, dim=-1)

    def crop(self, padded: Tensor) -> Tensor:
        return padded[..., self.pad : self.pad + self.length]


def spectral_convergence_db(target: Tensor, estimate: Tensor) -> Tensor:
    """``20 log10(||target - estimate||_F / ||target||_F)`` per item of magnitudes [..., F, T] (lower is better)."""
    target = torch.as_tensor(target, dtype=torch.float32)
    estimate = torch.as_tensor(estimate, dtype=torch.float32)
    num = (target - estimate).flatten(-2).norm(dim=-1)
    den = target.flatten(-2).norm(dim=-1).clamp_min(1e-12)
    return 20.0 * torch.log10(num.clamp_min(1e-12) / den)


def log_spectral_distance_db(target_db: Tensor, estimate_db: Tensor) -> Tensor:
    """Log-spectral distance in dB per item: RMS over bins of the dB difference, averaged over frames.

    Parameters
    ----------
    target_db, estimate_db : Tensor [..., F, T]
        Spectrograms already in dB (floored, so silence does not dominate).

    Returns
    -------
    Tensor [...]
    """
    diff = torch.as_tensor(target_db) - torch.as_tensor(estimate_db)
    return diff.square().mean(dim=-2).sqrt().mean(dim=-1)
