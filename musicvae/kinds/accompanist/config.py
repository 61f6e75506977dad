"""The accompanist kind's configs: the chorale representation, the MiniBach mapper, and the named configs."""

from __future__ import annotations

from dataclasses import dataclass, replace

from musicvae.config.schema import InstrumentConfig, TrainConfig


@dataclass(frozen=True)
class ChoraleRepresentation:
    """Four voices on a sixteenth grid, one token per voice per step: hold, rest, or a pitch of its range.

    Attributes
    ----------
    steps_per_bar : int
        Grid steps per 4/4 bar (16 = sixteenth notes).
    bars : int
        Window length in bars (MiniBach: 4, i.e. 64 steps).
    soprano, alto, tenor, bass : tuple of two ints
        Inclusive MIDI pitch range of each voice (Bach's written ranges by default).
    """

    steps_per_bar: int = 16
    bars: int = 4
    soprano: tuple[int, ...] = (57, 81)
    alto: tuple[int, ...] = (53, 74)
    tenor: tuple[int, ...] = (48, 69)
    bass: tuple[int, ...] = (36, 64)

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
        return tuple(high - low + 3 for low, high in self.ranges)


@dataclass(frozen=True)
class AccompanistConfig:
    """MiniBach mapper (soprano -> alto, tenor, bass) through a variational bottleneck.

    ``depth`` hidden layers of ``hidden_size`` units on each side of a
    ``z_dim`` Gaussian bottleneck. ``kl_weight`` is the maximum beta; 0 makes it
    the deterministic MiniBach (z is the posterior mean, no KL). ``input_dropout``
    > 0 replaces that share of soprano steps with "hold" while training
    (a denoising autoencoder). ``rank`` > 0 factorises the one-hot input and
    output layers through that width (0 = MiniBach's dense layers).
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
    return {
        "minibach-small": small,
        "minibach-small-ae": replace(small, model=replace(small.model, kl_weight=0.0)),
        "minibach": replace(
            small,
            model=replace(small.model, hidden_size=1024, depth=2, z_dim=128, dropout=0.1),
            train=replace(small.train, batch_size=256, max_steps=30_000),
        ),
    }
