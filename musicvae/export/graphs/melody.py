"""The melody decoder as one exportable module: a latent in, greedy (argmax) events and their logits out.

It runs :meth:`musicvae.models.sequence_vae.SequenceVAE.decode_steps` at temperature 0
over the model's own parameters: the conditioning's share of the first layer's gates
computed once, the previous token's column looked up, the upper layers as LSTM cells,
and for a hierarchical model the conductor's bar embeddings first, the last token of a
bar feeding the next. TorchScript compiles the step loop as a loop; ONNX traces it, so
the exported graph is the loop unrolled over the window's steps (32 for 2 bars). For
sampling with a temperature, feed a host's own choice back through the same cell
equations: each step is ``gates = W_ih [onehot(previous); cond] + W_hh h + b`` per
layer and ``logits = W_out h_top + b_out``, documented here as the loop's body.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from musicvae.export.graphs import no_sample_rate


def _cell(x: Tensor, h: Tensor, c: Tensor, w_ih: Tensor, w_hh: Tensor, b_ih: Tensor, b_hh: Tensor,
          fused: bool) -> tuple[Tensor, Tensor]:
    if fused:  # what the Python decoder calls; ONNX has no lstm_cell, so the traced form writes it out
        out = torch.lstm_cell(x, (h, c), w_ih, w_hh, b_ih, b_hh)
        return out[0], out[1]
    gates = torch.addmm(b_ih, x, w_ih.t()) + torch.addmm(b_hh, h, w_hh.t())
    i, f, g, o = gates.chunk(4, dim=1)
    c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
    return torch.sigmoid(o) * torch.tanh(c), c


class MelodyDecoder(nn.Module):
    """Latents [B, Z] -> (events [B, T] int64, logits [B, T, C]) by greedy decoding; shares the model's weights.

    Parameters
    ----------
    model : SequenceVAE
    fused : bool, keyword-only
        Upper layers through ``torch.lstm_cell`` (TorchScript: the Python decoder's very op) or written out (ONNX).
    """

    def __init__(self, model, *, fused: bool = True) -> None:
        super().__init__()
        self.num_classes, self.steps, self.steps_per_bar = model.num_classes, model.steps, model.steps_per_bar
        self.hierarchical = bool(model.hierarchical)
        self.fused = fused
        self.decoder_init = model.decoder_init.dense
        self.decoder_sizes = [int(s) for s in model.decoder_init.sizes]
        first = model.decoder[0]
        self.w_ih0, self.w_hh0 = first.weight_ih_l0, first.weight_hh_l0
        self.b_ih0, self.b_hh0 = first.bias_ih_l0, first.bias_hh_l0
        self.upper = nn.ModuleList(model.decoder[1:])
        self.output = model.output
        if self.hierarchical:
            self.conductor_init = model.conductor_init.dense
            self.conductor_sizes = [int(s) for s in model.conductor_init.sizes]
            self.conductor = model.conductor
        else:  # placeholders of the same types, so that TorchScript compiles either model
            self.conductor_init = nn.Linear(1, 2)
            self.conductor_sizes = [1]
            self.conductor = nn.ModuleList()

    def _state(self, dense: Tensor, sizes: list[int]) -> list[Tensor]:
        """``_StateFromEmbedding`` of a dense layer's output: [h0, c0, h1, c1, ...]."""
        splits: list[int] = []
        for s in sizes:
            splits += [s, s]
        return list(torch.tanh(dense).split(splits, dim=-1))

    def _bars(self, z: Tensor) -> Tensor:
        bars = self.steps // self.steps_per_bar
        x = z.new_zeros(z.shape[0], bars, 1)
        state = self._state(self.conductor_init(z), self.conductor_sizes)
        for k, layer in enumerate(self.conductor):
            x, _ = layer(x, (state[2 * k].unsqueeze(0).contiguous(), state[2 * k + 1].unsqueeze(0).contiguous()))
        return x

    def _run(self, cond: Tensor, previous: Tensor, first_bar: bool, n_steps: int,
             tokens: list[Tensor], logits: list[Tensor]) -> Tensor:
        n = self.num_classes
        token_rows = self.w_ih0[:, :n].t()
        gates_cond = torch.addmm(self.b_ih0 + self.b_hh0, cond, self.w_ih0[:, n:].t())
        w_hh0 = self.w_hh0.t()
        out_w, out_b = self.output.weight.t(), self.output.bias
        state = self._state(self.decoder_init(cond), self.decoder_sizes)
        h0, c0 = state[0], state[1]
        for t in range(n_steps):
            gates_in = gates_cond if (first_bar and t == 0) else gates_cond + token_rows[previous]
            gates = torch.addmm(gates_in, h0, w_hh0)
            i, f, g, o = gates.chunk(4, dim=1)
            c0 = torch.sigmoid(f) * c0 + torch.sigmoid(i) * torch.tanh(g)
            h0 = torch.sigmoid(o) * torch.tanh(c0)
            x = h0
            for k, layer in enumerate(self.upper):
                h, c = _cell(x, state[2 * k + 2], state[2 * k + 3], layer.weight_ih_l0, layer.weight_hh_l0,
                             layer.bias_ih_l0, layer.bias_hh_l0, self.fused)
                state[2 * k + 2], state[2 * k + 3] = h, c
                x = h
            step_logits = torch.addmm(out_b, x, out_w)
            previous = step_logits.argmax(dim=-1)
            logits.append(step_logits)
            tokens.append(previous)
        return previous

    def forward(self, z: Tensor) -> tuple[Tensor, Tensor]:
        tokens: list[Tensor] = []
        logits: list[Tensor] = []
        previous = torch.zeros(z.shape[0], dtype=torch.long, device=z.device)
        if not self.hierarchical:
            self._run(z, previous, True, self.steps, tokens, logits)
        else:
            embeddings = self._bars(z)
            for bar in range(self.steps // self.steps_per_bar):
                previous = self._run(embeddings[:, bar], previous, bar == 0, self.steps_per_bar, tokens, logits)
        return torch.stack(tokens, dim=1), torch.stack(logits, dim=1)


def exportable(instrument, fmt: str, *, sample_rate: int | None = None):
    """The melody decoder for ``fmt`` ("onnx": the upper layers written out; "torchscript": fused cells)."""
    from musicvae.export.exportable import Exportable

    no_sample_rate(instrument, sample_rate)

    model = instrument.model
    z = torch.randn(2, model.z_dim, generator=torch.Generator().manual_seed(0))
    decoder = "hierarchical" if model.hierarchical else "flat"
    return Exportable(MelodyDecoder(model, fused=fmt != "onnx").eval(), (z,), ("z",), ("events", "logits"),
                      dynamic={"z": {0: "batch"}, "events": {0: "batch"}, "logits": {0: "batch"}},
                      summary=f"z [B, {model.z_dim}] -> events [B, {model.steps}], logits [B, {model.steps}, "
                              f"{model.num_classes}]: greedy {decoder} LSTM decoder")
