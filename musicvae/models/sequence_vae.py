"""MusicVAE's melody model: BiLSTM encoder, flat or hierarchical ("conductor") LSTM decoder.

Events are MusicVAE melody classes (0 = no event, 1 = note off, 2.. = pitches).
The same decoder weights serve two paths:

- teacher forcing (training, evaluation) runs whole sequences through
  :class:`torch.nn.LSTM`, one fused call per layer;
- stepwise decoding (generation, scheduled sampling) runs a hand-rolled step
  loop over the very same parameters. Per-step Python/op overhead dominates a
  batch-1 decode, so the loop precomputes the conditioning's contribution to the
  first layer's gates once, looks up the previous token's column instead of
  building a one-hot, and uses the fused ``torch.lstm_cell`` for upper layers.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from musicvae.errors import ConfigError
from musicvae.models.latent import GaussianPosterior, reparameterize

LSTMState = list[tuple[Tensor, Tensor]]


class _StateFromEmbedding(nn.Module):
    """Dense + tanh from an embedding to the initial ``(h, c)`` of every layer of a stack."""

    def __init__(self, in_features: int, sizes: tuple[int, ...]) -> None:
        super().__init__()
        self.sizes = tuple(sizes)
        self.dense = nn.Linear(in_features, 2 * sum(sizes))

    def forward(self, x: Tensor) -> LSTMState:
        """Map ``x`` [N, in_features] to a list of ``(h, c)``, each [N, size]."""
        parts = torch.tanh(self.dense(x)).split([s for s in self.sizes for _ in range(2)], dim=-1)
        return [(parts[2 * i], parts[2 * i + 1]) for i in range(len(self.sizes))]


def _lstm_stack(input_size: int, sizes: tuple[int, ...], *, bidirectional: bool = False) -> nn.ModuleList:
    """One single-layer LSTM per size, so that consecutive layers may differ in width."""
    layers = []
    for size in sizes:
        layers.append(nn.LSTM(input_size, size, batch_first=True, bidirectional=bidirectional))
        input_size = size * (2 if bidirectional else 1)
    return nn.ModuleList(layers)


def _run_stack(layers: nn.ModuleList, x: Tensor, state: LSTMState) -> Tensor:
    """Run a full sequence ``x`` [N, L, in] through a unidirectional stack from ``state``; returns [N, L, H_top]."""
    for layer, (h, c) in zip(layers, state):
        x, _ = layer(x, (h.unsqueeze(0).contiguous(), c.unsqueeze(0).contiguous()))
    return x


class SequenceVAE(nn.Module):
    """Sequence VAE over categorical event sequences (MusicVAE).

    Parameters
    ----------
    num_classes : int
        Event vocabulary size C (90 for MusicVAE melodies).
    steps : int
        Sequence length T.
    steps_per_bar : int
        Steps per bar; the hierarchical decoder's sub-sequence length.
    z_dim : int
        Latent size Z.
    encoder_sizes : tuple of int
        Widths of the stacked bidirectional encoder LSTMs.
    decoder_sizes : tuple of int
        Widths of the (core) decoder LSTMs.
    conductor_sizes : tuple of int
        Widths of the conductor LSTMs; empty for a flat decoder.
    variational : bool
        False makes a plain autoencoder: ``z = mu``, never sampled.
    input_dropout : float
        In training mode, the share of encoder input tokens replaced with 0
        ("no event"): a denoising autoencoder.
    """

    def __init__(
        self,
        *,
        num_classes: int,
        steps: int,
        steps_per_bar: int,
        z_dim: int,
        encoder_sizes: tuple[int, ...],
        decoder_sizes: tuple[int, ...],
        conductor_sizes: tuple[int, ...] = (),
        variational: bool = True,
        input_dropout: float = 0.0,
    ) -> None:
        super().__init__()
        if not encoder_sizes or not decoder_sizes:
            raise ConfigError("a sequence VAE needs at least one encoder and one decoder layer")
        if not 0.0 <= input_dropout < 1.0:
            raise ConfigError(f"input_dropout must be in [0, 1), got {input_dropout}")
        self.hierarchical = bool(conductor_sizes)
        if self.hierarchical and steps % steps_per_bar:
            raise ConfigError(f"a hierarchical decoder needs whole bars: {steps} steps, {steps_per_bar} per bar")
        self.num_classes = num_classes
        self.steps = steps
        self.steps_per_bar = steps_per_bar
        self.z_dim = z_dim
        self.variational = variational
        self.input_dropout = input_dropout

        self.encoder = _lstm_stack(num_classes, tuple(encoder_sizes), bidirectional=True)
        self.posterior = GaussianPosterior(2 * encoder_sizes[-1], z_dim)
        if self.hierarchical:
            # The conductor has no inputs (zeros): its bias carries everything.
            self.conductor_init = _StateFromEmbedding(z_dim, tuple(conductor_sizes))
            self.conductor = _lstm_stack(1, tuple(conductor_sizes))
            cond_dim = conductor_sizes[-1]
        else:
            cond_dim = z_dim
        # ``cond`` is what conditions the core decoder: z (flat) or a bar embedding.
        self.cond_dim = cond_dim
        self.decoder_init = _StateFromEmbedding(cond_dim, tuple(decoder_sizes))
        self.decoder = _lstm_stack(num_classes + cond_dim, tuple(decoder_sizes))
        self.output = nn.Linear(decoder_sizes[-1], num_classes)

    # ------------------------------------------------------------------
    # Encoder
    # ------------------------------------------------------------------

    def encode(self, events: Tensor) -> tuple[Tensor, Tensor]:
        """Posterior parameters of ``events``.

        Parameters
        ----------
        events : LongTensor [B, T]

        Returns
        -------
        mu, sigma : Tensor [B, Z]
        """
        if self.training and self.input_dropout > 0:
            drop = torch.rand(events.shape, device=events.device) < self.input_dropout
            events = events.masked_fill(drop, 0)
        x = F.one_hot(events, self.num_classes).to(self.output.weight.dtype)
        h_n = None
        for layer in self.encoder:
            x, (h_n, _) = layer(x)
        # h_n [2, B, H]: final forward state and final backward state of the top layer.
        summary = torch.cat([h_n[0], h_n[1]], dim=-1)
        return self.posterior(summary)

    def latent(self, mu: Tensor, sigma: Tensor, *, sample: bool, generator: torch.Generator | None = None) -> Tensor:
        """``z`` from the posterior: a reparameterised sample if ``sample`` and variational, else ``mu``."""
        if sample and self.variational:
            return reparameterize(mu, sigma, generator=generator)
        return mu

    # ------------------------------------------------------------------
    # Teacher-forced (full-sequence) decoding
    # ------------------------------------------------------------------

    def _bar_embeddings(self, z: Tensor) -> Tensor:
        """Conductor outputs, one per bar: [B, bars, conductor_sizes[-1]]."""
        bars = self.steps // self.steps_per_bar
        zeros = z.new_zeros(z.shape[0], bars, 1)
        return _run_stack(self.conductor, zeros, self.conductor_init(z))

    def teacher_forced_logits(self, z: Tensor, events: Tensor) -> Tensor:
        """Logits of every step given the true previous tokens.

        Parameters
        ----------
        z : Tensor [B, Z]
        events : LongTensor [B, T]

        Returns
        -------
        Tensor [B, T, C]
        """
        batch, steps = events.shape
        onehot = F.one_hot(events, self.num_classes).to(z.dtype)
        previous = F.pad(onehot[:, :-1], (0, 0, 1, 0))  # zeros at t = 0
        if not self.hierarchical:
            x = torch.cat([previous, z.unsqueeze(1).expand(-1, steps, -1)], dim=-1)
            return self.output(_run_stack(self.decoder, x, self.decoder_init(z)))
        # Bars are independent given their embedding and the true previous token,
        # so all bars of all sequences run as one batch of short sequences.
        bars, spb = steps // self.steps_per_bar, self.steps_per_bar
        emb = self._bar_embeddings(z).reshape(batch * bars, -1)
        previous = previous.reshape(batch * bars, spb, self.num_classes)
        x = torch.cat([previous, emb.unsqueeze(1).expand(-1, spb, -1)], dim=-1)
        out = _run_stack(self.decoder, x, self.decoder_init(emb))
        return self.output(out).reshape(batch, steps, self.num_classes)

    # ------------------------------------------------------------------
    # Stepwise decoding
    # ------------------------------------------------------------------

    def _run_steps(
        self,
        cond: Tensor,
        previous: Tensor | None,
        n_steps: int,
        *,
        targets: Tensor | None,
        sample_prob: float,
        temperature: float,
        generator: torch.Generator | None,
        want_logits: bool,
    ) -> tuple[list[Tensor], list[Tensor]]:
        """Decode ``n_steps`` from a fresh core state conditioned on ``cond`` [B, D].

        ``targets`` [B, n_steps] forces the inputs (teacher forcing); with
        ``sample_prob`` > 0 each step of each sequence instead feeds the model's
        own sampled token with that probability (scheduled sampling).
        """
        n_classes = self.num_classes
        first = self.decoder[0]
        w_ih = first.weight_ih_l0
        # Split layer 0's input weight: the token part becomes a row lookup, the
        # conditioning part is constant over the steps, so it is computed once.
        token_rows = w_ih[:, :n_classes].t()  # [C, 4H]
        gates_cond = torch.addmm(first.bias_ih_l0 + first.bias_hh_l0, cond, w_ih[:, n_classes:].t())
        w_hh0 = first.weight_hh_l0.t()
        upper = [(m.weight_ih_l0, m.weight_hh_l0, m.bias_ih_l0, m.bias_hh_l0) for m in self.decoder[1:]]
        out_w, out_b = self.output.weight.t(), self.output.bias
        state = self.decoder_init(cond)
        h0, c0 = state[0]
        rest = state[1:]
        tokens: list[Tensor] = []
        logits_out: list[Tensor] = []
        for t in range(n_steps):
            gates_in = gates_cond if previous is None else gates_cond + token_rows[previous]
            gates = torch.addmm(gates_in, h0, w_hh0)
            i, f, g, o = gates.chunk(4, dim=1)
            c0 = torch.sigmoid(f) * c0 + torch.sigmoid(i) * torch.tanh(g)
            h0 = torch.sigmoid(o) * torch.tanh(c0)
            x = h0
            for k, weights in enumerate(upper):
                rest[k] = torch.lstm_cell(x, rest[k], *weights)
                x = rest[k][0]
            logits = torch.addmm(out_b, x, out_w)
            if want_logits:
                logits_out.append(logits)
            if targets is not None:
                token = targets[:, t]
                if sample_prob > 0.0:
                    with torch.no_grad():
                        sampled = torch.multinomial(torch.softmax(logits, -1), 1, generator=generator).squeeze(1)
                        use = torch.rand(token.shape, generator=generator, device=token.device) < sample_prob
                    token = torch.where(use, sampled, token)
            elif temperature > 0.0:
                probs = torch.softmax(logits / temperature, dim=-1)
                token = torch.multinomial(probs, 1, generator=generator).squeeze(1)
            else:
                token = logits.argmax(dim=-1)
            tokens.append(token)
            previous = token
        return tokens, logits_out

    def decode_steps(
        self,
        z: Tensor,
        *,
        temperature: float = 0.0,
        generator: torch.Generator | None = None,
        targets: Tensor | None = None,
        sample_prob: float = 0.0,
        want_logits: bool = True,
    ) -> tuple[Tensor, Tensor | None]:
        """Autoregressive decoding, step by step, returning tokens and per-step logits.

        Parameters
        ----------
        z : Tensor [B, Z]
        temperature : float
            0 = argmax; else sample from ``softmax(logits / temperature)``.
        generator : torch.Generator, optional
            For reproducible sampling.
        targets : LongTensor [B, T], optional
            Feed these tokens instead of the model's own (teacher forcing).
        sample_prob : float
            With ``targets``, per-step probability of feeding the model's own
            sample instead (scheduled sampling).
        want_logits : bool
            Collect logits (off for the fastest generation).

        Returns
        -------
        tokens : LongTensor [B, T]
            The tokens fed forward (with ``targets``: the mixed input sequence).
        logits : Tensor [B, T, C] or None
        """
        options = dict(
            targets=None,
            sample_prob=sample_prob,
            temperature=temperature,
            generator=generator,
            want_logits=want_logits,
        )
        if not self.hierarchical:
            options["targets"] = targets
            tokens, logits = self._run_steps(z, None, self.steps, **options)
        else:
            tokens, logits = [], []
            previous = None
            spb = self.steps_per_bar
            embeddings = self._bar_embeddings(z)
            for bar in range(embeddings.shape[1]):
                if targets is not None:
                    options["targets"] = targets[:, bar * spb : (bar + 1) * spb]
                bar_tokens, bar_logits = self._run_steps(embeddings[:, bar], previous, spb, **options)
                tokens += bar_tokens
                logits += bar_logits
                previous = bar_tokens[-1]  # the last token of one bar feeds the next
        stacked = torch.stack(logits, dim=1) if want_logits else None
        return torch.stack(tokens, dim=1), stacked

    def decode(self, z: Tensor, *, temperature: float = 0.0, generator: torch.Generator | None = None) -> Tensor:
        """Generate sequences from latent codes (no gradients).

        Parameters
        ----------
        z : Tensor [B, Z]
        temperature : float
            0 = argmax (deterministic); else Magenta's ``softmax(logits / temperature)`` sampling.
        generator : torch.Generator, optional

        Returns
        -------
        LongTensor [B, T]
        """
        with torch.inference_mode():
            tokens, _ = self.decode_steps(z, temperature=temperature, generator=generator, want_logits=False)
        return tokens

    # ------------------------------------------------------------------
    # Training forward
    # ------------------------------------------------------------------

    def forward(
        self,
        events: Tensor,
        *,
        sample_prob: float = 0.0,
        generator: torch.Generator | None = None,
        sample_z: bool | None = None,
    ) -> dict[str, Tensor]:
        """Encode, pick z, decode with teacher forcing (or scheduled sampling).

        Parameters
        ----------
        events : LongTensor [B, T]
        sample_prob : float
            > 0 runs the stepwise decoder with scheduled sampling.
        generator : torch.Generator, optional
            Drives z sampling and scheduled sampling.
        sample_z : bool, optional
            Sample z from the posterior; default: in training mode only. An
            autoencoder (``variational=False``) always uses ``mu``.

        Returns
        -------
        dict with ``logits`` [B, T, C], ``mu``, ``sigma``, ``z`` [B, Z]
        """
        mu, sigma = self.encode(events)
        z = self.latent(mu, sigma, sample=self.training if sample_z is None else sample_z, generator=generator)
        if sample_prob > 0.0:
            _, logits = self.decode_steps(z, targets=events, sample_prob=sample_prob, generator=generator)
        else:
            logits = self.teacher_forced_logits(z, events)
        return {"logits": logits, "mu": mu, "sigma": sigma, "z": z}
