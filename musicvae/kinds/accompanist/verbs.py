"""The accompanist kind's :class:`~musicvae.kinds.base.Verbs`: soprano windows in, lower voices out.

MiniBach encodes the soprano alone and decodes alto, tenor and bass from the latent, so
``decode`` needs no condition. Whole melodies, voice leading and variations are the job
verb's, :func:`musicvae.harmonize.harmonize`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from musicvae.errors import InputError
from musicvae.midi import chorale as codec
from musicvae.models.latent import interpolate as interpolate_latents


def _generator(seed: Any) -> torch.Generator | None:
    if seed is None or isinstance(seed, torch.Generator):
        return seed
    return torch.Generator().manual_seed(int(seed))


class AccompanistVerbs:
    """Verbs of an accompanist; outputs are int64 token windows [N, 3, T] (alto, tenor, bass).

    Tokens per voice follow the instrument's representation (``self.representation``): hold,
    rest, then one per pitch of the voice's range; :meth:`pitches` decodes them with its ranges.
    """

    def __init__(self, instrument) -> None:
        self.instrument = instrument.require_kind("accompanist")
        self.model = instrument.model
        self.z_dim = instrument.config.model.z_dim
        self.representation = instrument.config.model.representation

    def _soprano(self, windows: np.ndarray) -> torch.Tensor:
        windows = np.asarray(windows)
        if windows.ndim == 1:
            windows = windows[None]
        steps, classes = self.representation.steps, self.representation.num_classes[0]
        if windows.ndim != 2 or windows.shape[1] != steps:
            raise InputError(f"expected soprano windows of {steps} steps, got shape {windows.shape}")
        if windows.size and (windows.min() < 0 or windows.max() >= classes):
            raise InputError(f"soprano tokens must lie in 0..{classes - 1}")
        return torch.as_tensor(windows, dtype=torch.long)

    def pitches(self, lower: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Lower-voice tokens [..., 3, T] (what the verbs return) -> (pitches with -1 for rests, onsets) [..., 3, T]."""
        return codec.decode_grid(np.asarray(lower), ranges=self.representation.ranges[1:])

    def encode(self, inputs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Soprano token windows [N, T] -> posterior (mu, sigma), each [N, Z]."""
        with torch.inference_mode():
            mu, sigma = self.model.encode(self._soprano(inputs))
        return mu.numpy(), sigma.numpy()

    def decode(self, z: np.ndarray, condition: Any = None, *, temperature: float = 0.0, seed: Any = None) -> np.ndarray:
        """Latents [N, Z] -> lower-voice tokens [N, 3, T]: argmax at temperature 0, else drawn from logits / T."""
        if condition is not None:
            raise InputError("an accompanist decodes from the latent alone; it takes no condition")
        generator = _generator(seed)
        with torch.inference_mode():
            voices = []
            for logits in self.model.decode_logits(torch.as_tensor(np.asarray(z), dtype=torch.float32)):
                if temperature <= 0:
                    voices.append(logits.argmax(-1))
                else:
                    probs = torch.softmax(logits / temperature, dim=-1)
                    drawn = torch.multinomial(probs.reshape(-1, probs.shape[-1]), 1, generator=generator)
                    voices.append(drawn.view(probs.shape[:-1]))
        return torch.stack(voices, dim=1).numpy().astype(np.int64)

    def sample(self, n: int, condition: Any = None, *, temperature: float = 0.5, seed: Any = None) -> np.ndarray:
        """``n`` prior samples -> lower-voice tokens [n, 3, T]."""
        if n < 1:
            raise InputError(f"-n must be at least 1, got {n}")
        generator = _generator(seed)
        z = torch.randn(n, self.z_dim, generator=generator).numpy()
        return self.decode(z, condition, temperature=temperature, seed=generator)

    def interpolate(self, a: np.ndarray, b: np.ndarray, condition: Any = None, *, steps: int = 5,
                    method: str = "slerp", temperature: float = 0.0, seed: Any = None) -> np.ndarray:
        """Soprano windows ``a`` and ``b`` [T] -> lower voices along the path [steps, 3, T]."""
        if steps < 2:
            raise InputError(f"--steps must be at least 2 (the two endpoints), got {steps}")
        if method not in ("slerp", "lerp"):
            raise InputError(f"unknown interpolation {method!r}; use slerp or lerp")
        mu, _ = self.encode(np.stack([np.asarray(a), np.asarray(b)]))
        path = interpolate_latents(torch.as_tensor(mu[0]), torch.as_tensor(mu[1]), steps=steps, method=method)
        return self.decode(path.numpy(), condition, temperature=temperature, seed=seed)
