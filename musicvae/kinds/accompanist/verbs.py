"""The accompanist kind's :class:`~musicvae.kinds.base.Verbs`: soprano windows in, lower voices out.

MiniBach encodes the soprano alone and decodes alto, tenor and bass from the latent, so
``decode`` needs no condition. A chorale net is a conditional VAE: it encodes whole
four-voice windows (the latent holds how they are harmonised) and decodes a latent
*given a soprano*, its condition. Whole melodies, voice leading, Gibbs sampling and
variations are the job verb's, :func:`musicvae.harmonize.harmonize`.
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
        self.conditional = instrument.config.model.architecture == "chorale-net"

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

    def _chorale(self, windows: np.ndarray) -> torch.Tensor:
        windows = np.asarray(windows)
        if windows.ndim == 2:
            windows = windows[None]
        steps, classes = self.representation.steps, self.representation.num_classes
        if windows.ndim != 3 or windows.shape[1:] != (4, steps):
            raise InputError(f"a chorale net encodes four-voice windows [N, 4, {steps}], got shape {windows.shape}")
        for v, c in enumerate(classes):
            if windows[:, v].min() < 0 or windows[:, v].max() >= c:
                raise InputError(f"tokens of voice {v + 1} must lie in 0..{c - 1}")
        return torch.as_tensor(windows, dtype=torch.long)

    def pitches(self, lower: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Lower-voice tokens [..., 3, T] (what the verbs return) -> (pitches with -1 for rests, onsets) [..., 3, T]."""
        return codec.decode_grid(np.asarray(lower), ranges=self.representation.ranges[1:])

    def encode(self, inputs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Posterior (mu, sigma), each [N, Z], of soprano windows [N, T] (MiniBach) or of four-voice
        windows [N, 4, T] (a chorale net: soprano first, every voice's tokens over its range)."""
        with torch.inference_mode():
            if self.conditional:
                chorale = self._chorale(inputs)
                mu, sigma = self.model.encode(chorale[:, 0], chorale[:, 1:])
            else:
                mu, sigma = self.model.encode(self._soprano(inputs))
        return mu.numpy(), sigma.numpy()

    def _logits(self, z: np.ndarray, condition: Any) -> list[torch.Tensor]:
        z = torch.as_tensor(np.asarray(z), dtype=torch.float32)
        if not self.conditional:
            if condition is not None:
                raise InputError("a MiniBach accompanist decodes from the latent alone; it takes no condition")
            return self.model.decode_logits(z)
        if condition is None:
            raise InputError("a chorale net decodes a latent given a soprano: pass soprano windows [N, T] or [T] "
                             "as the condition")
        soprano = self._soprano(condition)
        if len(soprano) == 1:
            soprano = soprano.expand(len(z), -1)
        if len(soprano) != len(z):
            raise InputError(f"{len(z)} latents but {len(soprano)} soprano windows")
        return self.model.decode_logits(z, soprano)

    def decode(self, z: np.ndarray, condition: Any = None, *, temperature: float = 0.0, seed: Any = None) -> np.ndarray:
        """Latents [N, Z] (given soprano windows [N, T] or [T] for a chorale net) -> lower-voice tokens
        [N, 3, T]: argmax at temperature 0, else drawn from logits / T."""
        generator = _generator(seed)
        with torch.inference_mode():
            voices = []
            for logits in self._logits(z, condition):
                if temperature <= 0:
                    voices.append(logits.argmax(-1))
                else:
                    probs = torch.softmax(logits / temperature, dim=-1)
                    drawn = torch.multinomial(probs.reshape(-1, probs.shape[-1]), 1, generator=generator)
                    voices.append(drawn.view(probs.shape[:-1]))
        return torch.stack(voices, dim=1).numpy().astype(np.int64)

    def sample(self, n: int, condition: Any = None, *, temperature: float = 0.5, seed: Any = None) -> np.ndarray:
        """``n`` prior samples (given a soprano for a chorale net) -> lower-voice tokens [n, 3, T]."""
        if n < 1:
            raise InputError(f"-n must be at least 1, got {n}")
        generator = _generator(seed)
        z = torch.randn(n, self.z_dim, generator=generator).numpy()
        return self.decode(z, condition, temperature=temperature, seed=generator)

    def interpolate(self, a: np.ndarray, b: np.ndarray, condition: Any = None, *, steps: int = 5,
                    method: str = "slerp", temperature: float = 0.0, seed: Any = None) -> np.ndarray:
        """Windows ``a`` and ``b`` (soprano [T]; four voices [4, T] for a chorale net) -> lower voices along
        the path between their latents [steps, 3, T] (a chorale net's given the soprano ``condition``)."""
        if steps < 2:
            raise InputError(f"--steps must be at least 2 (the two endpoints), got {steps}")
        if method not in ("slerp", "lerp"):
            raise InputError(f"unknown interpolation {method!r}; use slerp or lerp")
        mu, _ = self.encode(np.stack([np.asarray(a), np.asarray(b)]))
        path = interpolate_latents(torch.as_tensor(mu[0]), torch.as_tensor(mu[1]), steps=steps, method=method)
        return self.decode(path.numpy(), condition, temperature=temperature, seed=seed)
