"""The accompanist kind's configs: the chorale representation, the MiniBach mapper, and the named configs."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import ClassVar

import numpy as np

from musicvae.config.schema import InstrumentConfig, TrainConfig
from musicvae.errors import InputError
from musicvae.midi import chorale as codec


@dataclass(frozen=True)
class ChoraleRepresentation:
    """Four voices on a sixteenth grid, one token per voice per step: hold, rest, or a pitch of its range.

    The representation owns the voice ranges and the token layout: everything
    that cuts, checks, trains on or decodes an accompanist's tokens (its
    training windows, the model's vocabulary, ``harmonize``, ``evaluate``)
    takes them from here, so that a custom range means the same token offsets
    everywhere. The layout is the codec's (:mod:`musicvae.midi.chorale`):
    ``HOLD``, ``REST``, then ``FIRST_PITCH + pitch - low`` for each pitch of a
    voice's inclusive range; the default ranges are its ``VOICE_RANGES``.

    Attributes
    ----------
    steps_per_bar : int
        Grid steps per 4/4 bar (16 = sixteenth notes).
    bars : int
        Window length in bars (MiniBach: 4, i.e. 64 steps).
    soprano, alto, tenor, bass : tuple of two ints
        Inclusive MIDI pitch range of each voice (Bach's written ranges by default).
    phrases : bool
        Each step's place in its phrase (:func:`musicvae.midi.chorale.phrase_tokens`, from the soprano's
        fermatas) is an input of the model: its windows carry the phrase tokens as a fifth row.
    """

    HOLD: ClassVar[int] = codec.HOLD
    REST: ClassVar[int] = codec.REST
    FIRST_PITCH: ClassVar[int] = codec.FIRST_PITCH

    steps_per_bar: int = 16
    bars: int = 4
    soprano: tuple[int, ...] = codec.VOICE_RANGES[0]
    alto: tuple[int, ...] = codec.VOICE_RANGES[1]
    tenor: tuple[int, ...] = codec.VOICE_RANGES[2]
    bass: tuple[int, ...] = codec.VOICE_RANGES[3]
    phrases: bool = False

    @property
    def rows(self) -> int:
        """Rows of a training window: the four voices, and the phrase tokens when they are an input."""
        return 4 + int(self.phrases)

    @property
    def steps(self) -> int:
        return self.bars * self.steps_per_bar

    @property
    def ranges(self) -> tuple[tuple[int, int], ...]:
        """``((low, high), ...)`` for soprano, alto, tenor, bass."""
        return tuple((int(r[0]), int(r[-1])) for r in (self.soprano, self.alto, self.tenor, self.bass))

    @property
    def num_classes(self) -> tuple[int, ...]:
        """Tokens per voice: hold, rest and one per pitch of its range."""
        return tuple(codec.num_classes(r) for r in self.ranges)

    def _voice(self, voice: int | str) -> int:
        return codec.VOICES.index(voice) if isinstance(voice, str) else int(voice)

    def pitch_tokens(self, voice: int | str, pitches) -> np.ndarray:
        """MIDI pitches -> the note-start tokens of ``voice`` (index 0..3 or name).

        Raises
        ------
        InputError
            If a pitch lies outside the voice's range.
        """
        low, high = self.ranges[self._voice(voice)]
        pitches = np.asarray(pitches, np.int64)
        if ((pitches < low) | (pitches > high)).any():
            raise InputError(f"pitches outside the {codec.VOICES[self._voice(voice)]} range {low}..{high}")
        return self.FIRST_PITCH + pitches - low

    def token_pitches(self, voice: int | str, tokens) -> np.ndarray:
        """Tokens of ``voice`` -> the MIDI pitch each note-start token starts, -1 for holds and rests."""
        low, _ = self.ranges[self._voice(voice)]
        tokens = np.asarray(tokens, np.int64)
        return np.where(tokens >= self.FIRST_PITCH, tokens - self.FIRST_PITCH + low, -1)

    def windows(self, grid: codec.ChoraleGrid, *, hop_bars: int = 1) -> tuple[np.ndarray, np.ndarray, int]:
        """Token windows [N, 4, steps] of a chorale grid over these ranges (see :func:`codec.grid_windows`)."""
        return codec.grid_windows(grid, ranges=self.ranges, window_steps=self.steps,
                                  hop_steps=hop_bars * self.steps_per_bar)


@dataclass(frozen=True)
class AccompanistConfig:
    """A soprano -> alto, tenor, bass mapper through a variational bottleneck.

    ``architecture`` picks the network:

    - ``"minibach"`` (:class:`~musicvae.models.accompanist.Accompanist`): MiniBach's
      feed-forward mapper. ``depth`` hidden layers of ``hidden_size`` units on each
      side of a ``z_dim`` Gaussian bottleneck. ``input_dropout`` > 0 replaces that
      share of soprano steps with "hold" while training (a denoising autoencoder).
      ``rank`` > 0 factorises the one-hot input and output layers through that width
      (0 = MiniBach's dense layers).
    - ``"chorale-net"`` (:class:`~musicvae.models.chorale_net.ChoraleNet`): a
      convolutional conditional VAE over the grid, ``layers`` residual dilated
      convolutions of ``channels`` (kernel ``kernel_size``, token embeddings of
      ``embed_size``), trained on random masks of the lower voices (Coconet): a
      share ``hide_all`` of the training windows hides every lower note, the others
      hide each note with a probability drawn uniformly per window. Its
      ``harmonize`` refines the first harmonisation by ``gibbs_steps`` rounds of
      block Gibbs sampling.

    ``kl_weight`` is the maximum beta; 0 makes it a deterministic autoencoder
    (z is the posterior mean, no KL). ``memory`` > 0 gives the accompanist a memory of
    its training chorales: the instrument stores its training windows, and ``harmonize``
    mixes the lower voices of the nearest ones (every in-range transposition) into the
    model's probabilities with that weight before the voice leading (0 = the model alone);
    ``memory_twin`` > 0 is the weight for a window whose soprano the memory holds exactly,
    falling to ``memory`` as the nearest differs (:func:`musicvae.voicing.mixed_predictor`).
    ``hold_scale`` scales the probability of "hold" in those mixed probabilities.
    A chorale net whose representation has ``phrases`` sees each step's place in its phrase;
    ``phrase_dropout`` of its training windows are shown "phrases unknown" instead, what a
    melody without fermatas (a MIDI file) gives it.
    """

    representation: ChoraleRepresentation = ChoraleRepresentation()
    hidden_size: int = 256
    depth: int = 1
    z_dim: int = 32
    dropout: float = 0.3
    kl_weight: float = 0.1
    beta_rate: float = 0.999
    free_bits: float = 0.0
    input_dropout: float = 0.0
    rank: int = 0
    architecture: str = "minibach"
    channels: int = 128
    layers: int = 10
    kernel_size: int = 3
    embed_size: int = 32
    hide_all: float = 0.5
    gibbs_steps: int = 0
    memory: float = 0.0
    phrase_dropout: float = 0.25
    memory_twin: float = 0.0
    hold_scale: float = 1.0


def named_configs() -> dict[str, InstrumentConfig]:
    """MiniBach accompanists: a small one that trains on a laptop CPU in minutes, a deeper one for GPUs."""
    small = InstrumentConfig(
        kind="accompanist",
        # No dropout and a light KL: the mapper must memorise the many hymn tunes Bach harmonised
        # more than once (a held-out chorale often shares its tune with a training one).
        model=AccompanistConfig(hidden_size=512, depth=1, z_dim=64, dropout=0.0, kl_weight=0.01, beta_rate=0.999),
        data="bach-chorales",
        # transpose 12: each window is drawn at any in-range transposition (about 10 per window).
        # 3000 steps: validation frame accuracy peaks there; later steps overfit the training chorales.
        train=TrainConfig(batch_size=128, max_steps=3000, learning_rate=2e-3, decay_rate=0.9999,
                          sampling_rate=0.0, transpose=12, val_every=500),
    )
    net = replace(
        small,
        # A light KL: the decoder reads the soprano itself, the latent only carries the harmonisation's character.
        model=AccompanistConfig(architecture="chorale-net", channels=96, layers=8, z_dim=32, dropout=0.1,
                                kl_weight=0.1, beta_rate=0.999, free_bits=0.0, hide_all=0.5, gibbs_steps=4,
                                # Mixed in at 0.15-0.25, the chorale memory took validation frame accuracy from
                                # 0.368 (the net alone) to 0.40-0.41 (the memory alone: 0.322).
                                memory=0.2),
        train=replace(small.train, batch_size=64, max_steps=4000, learning_rate=1e-3, val_every=500),
    )
    return {
        "chorale-net-small": net,
        # The same net reading each step's place in its phrase (the soprano's fermatas): where a cadence falls.
        "chorale-net-phrases-small": replace(net, model=replace(
            net.model, representation=replace(net.model.representation, phrases=True),
            # On the validation chorales the first pass sounded 3,698 lower-voice onsets where Bach has 4,304
            # (hold is the likeliest token at most steps): hold at half its probability gives 4,095, frame
            # accuracy 0.440 -> 0.442 and onset accuracy 0.368 -> 0.390 (0.4: 4,278 onsets, frame 0.438). The
            # memory at 0.45 for a twin soprano, 0.15 for a stranger: frame 0.432 -> 0.440, onset 0.355 -> 0.368.
            memory=0.15, memory_twin=0.45, hold_scale=0.5)),
        "minibach-small": small,
        "minibach-small-ae": replace(small, model=replace(small.model, kl_weight=0.0)),
        "minibach": replace(
            small,
            model=replace(small.model, hidden_size=1024, depth=2, z_dim=128, dropout=0.1),
            train=replace(small.train, batch_size=256, max_steps=30_000),
        ),
    }
