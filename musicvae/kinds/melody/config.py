"""The melody kind's configs: its representation, the sequence VAE, and the named configs."""

from __future__ import annotations

from dataclasses import dataclass, replace

from musicvae.config.schema import InstrumentConfig, TrainConfig
from musicvae.midi.meter import DEFAULT_METER, bar_quarters, bar_steps


@dataclass(frozen=True)
class MelodyRepresentation:
    """MusicVAE's melody events: 0 = no event, 1 = note off, 2.. = pitches.

    Attributes
    ----------
    steps_per_bar : int
        Grid steps per bar of ``meter`` (16 = sixteenth notes of a 4/4 bar; 3/4 and 6/8 bars
        of sixteenths are 12, see :func:`for_meter`).
    bars : int
        Window length in bars (2 for flat models, 16 for the hierarchical one).
    min_pitch, max_pitch : int
        Inclusive MIDI pitch range of the event vocabulary (21..108 = 88 keys).
    meter : str
        The meter of the bars the model is trained on and takes (``n/d``; default 4/4).
    """

    steps_per_bar: int = 16
    bars: int = 2
    min_pitch: int = 21
    max_pitch: int = 108
    meter: str = DEFAULT_METER

    @property
    def num_classes(self) -> int:
        return self.max_pitch - self.min_pitch + 1 + 2

    @property
    def steps(self) -> int:
        return self.bars * self.steps_per_bar

    @property
    def steps_per_quarter(self) -> float:
        """Grid steps per quarter note (4 on the sixteenth grid, in any meter)."""
        return float(self.steps_per_bar / bar_quarters(self.meter))


def for_meter(meter: str, *, bars: int = 2,
              base: MelodyRepresentation = MelodyRepresentation()) -> MelodyRepresentation:
    """``base`` with bars of ``meter`` on the sixteenth grid (3/4 and 6/8: 12 steps a bar, 2/4: 8, 7/8: 14).

    Raises
    ------
    InputError
        If a bar of ``meter`` is not a whole number of sixteenths.
    """
    return replace(base, meter=meter, bars=bars, steps_per_bar=bar_steps(meter))


@dataclass(frozen=True)
class SequenceVAEConfig:
    """Sequence VAE over melody events (MusicVAE).

    ``conductor_sizes`` empty means a flat decoder; non-empty means a
    hierarchical decoder whose conductor emits one embedding per bar.
    ``kl_weight`` is the maximum beta; 0 turns the model into a plain
    autoencoder (z is the posterior mean, no KL). ``input_dropout`` > 0 replaces
    that share of encoder input tokens with "no event" while training, making
    it a denoising autoencoder.
    """

    representation: MelodyRepresentation = MelodyRepresentation()
    z_dim: int = 256
    encoder_sizes: tuple[int, ...] = (512,)
    decoder_sizes: tuple[int, ...] = (256, 256)
    conductor_sizes: tuple[int, ...] = ()
    kl_weight: float = 0.2
    beta_rate: float = 0.99999
    free_bits: float = 0.0
    input_dropout: float = 0.0


def named_configs() -> dict[str, InstrumentConfig]:
    """Melody VAEs: 2-bar models for a CPU (VAE, AE, denoising), the paper-size 2-bar and 16-bar ones."""
    small = InstrumentConfig(
        kind="melody",
        model=SequenceVAEConfig(
            z_dim=128,
            encoder_sizes=(256,),
            decoder_sizes=(256, 256),
            kl_weight=0.2,
            # A CPU run is a few thousand steps, not MusicVAE's 200k: beta still starts near 0 so the
            # decoder learns to rely on z before the KL squeezes it (a 0.9995 ramp plateaued at 18 nats
            # and 0.72 sampled accuracy after 1,750 steps), then rises to 0.2 * 0.6 by 10k steps.
            beta_rate=0.9999,
            free_bits=0.0,
        ),
        data="folk-melodies",
        train=TrainConfig(batch_size=128, max_steps=20_000, sampling_rate=0.0, val_every=500),
    )
    big = replace(
        small,
        model=SequenceVAEConfig(
            z_dim=512, encoder_sizes=(2048,), decoder_sizes=(2048, 2048, 2048), kl_weight=0.5
        ),
        train=TrainConfig(),
    )
    hier = replace(
        big,
        model=SequenceVAEConfig(
            representation=MelodyRepresentation(bars=16),
            z_dim=512,
            encoder_sizes=(2048, 2048),
            decoder_sizes=(1024, 1024),
            conductor_sizes=(1024, 1024),
            kl_weight=0.2,
            free_bits=256.0,
        ),
        train=replace(TrainConfig(), sampling_rate=0.0),
    )
    return {
        "2bar-small": small,
        # Waltzes and jigs of the folk corpus: the same CPU-sized model on 12-step bars.
        "2bar-waltz": replace(small, model=replace(small.model, representation=for_meter("3/4"))),
        "2bar-jig": replace(small, model=replace(small.model, representation=for_meter("6/8"))),
        "2bar-small-ae": replace(small, model=replace(small.model, kl_weight=0.0)),
        "2bar-small-denoise": replace(small, model=replace(small.model, input_dropout=0.2)),
        "2bar-big": big,
        "16bar-hier": hier,
        "16bar-hier-small": replace(
            hier,
            model=replace(
                small.model,
                representation=MelodyRepresentation(bars=16),
                encoder_sizes=(256,),
                # As wide as the 2-bar model's z: its bar decoder then has the 2-bar decoder's
                # shapes, and `train --init-from melody-2bar` starts it (and the encoder) from
                # the trained flat model, so only the conductor learns from nothing.
                conductor_sizes=(128,),
                free_bits=32.0,
                # The 2-bar ramp left beta at 0.03 after 1,600 steps: a KL of 85 nats per window and
                # prior samples far from the posteriors (feature overlap 0.53). At 0.999 beta reaches
                # 0.17 by step 1,850; by step 2,190 the KL had fallen to 37 nats, the overlap risen to
                # 0.66 (data ceiling 0.68) and validation accuracy still rose (0.742 to 0.749).
                beta_rate=0.999,
            ),
            train=small.train,
        ),
    }
