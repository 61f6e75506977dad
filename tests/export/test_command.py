"""``musicvae export``: the written file, and one-line errors with exit status 2 for bad input."""

from __future__ import annotations

import torch
from export_helpers import small_instrument

from musicvae.cli import main


def _run(capsys, *argv):
    status = main(["export", *map(str, argv)])
    out, err = capsys.readouterr()
    return status, out, err


def test_export_writes_a_loadable_file(tmp_path, capsys):
    folder = small_instrument("accompanist").save(tmp_path / "tiny-accompanist")
    status, out, err = _run(capsys, folder, "--format", "torchscript", "-o", tmp_path / "out" / "decoder.pt")
    assert status == 0, err
    assert out.startswith(f"wrote {tmp_path / 'out' / 'decoder.pt'} (z [B, 8] -> alto, tenor, bass tokens")
    tokens, logits = torch.jit.load(str(tmp_path / "out" / "decoder.pt"))(torch.zeros(3, 8))
    assert tokens.shape[:2] == (3, 3) and logits.shape[0] == 3
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["decoder.pt"]  # no temporary file left


def test_a_saved_chorale_net_exports_its_conditional_decoder(tmp_path, capsys):
    folder = small_instrument("accompanist-net").save(tmp_path / "tiny-net")
    status, out, err = _run(capsys, folder, "--format", "onnx", "-o", tmp_path / "net.onnx")
    assert status == 0, err
    assert out == (f"wrote {tmp_path / 'net.onnx'} (z [B, 4], soprano [B, 64], lower [B, 3, 64] (MASK = 24, 24, 31) "
                   f"-> alto, tenor, bass tokens [B, 3, 64], logits [B, 64, 79])\n")


def test_unknown_format_lists_the_known_ones(tmp_path, capsys):
    status, _, err = _run(capsys, "melody-2bar", "--format", "coreml", "-o", tmp_path / "x.onnx")
    assert status == 2
    assert err.count("\n") == 1 and "'nn-tilde', 'onnx', 'torchscript'" in err


def test_a_kind_without_that_format_is_one_line(tmp_path, capsys):
    folder = small_instrument("melody").save(tmp_path / "tiny-melody")
    status, _, err = _run(capsys, folder, "--format", "nn-tilde", "-o", tmp_path / "x.ts")
    assert status == 2
    assert err == ("musicvae: error: 'tiny-melody' is a melody instrument, which has no nn-tilde export "
                   "(its kind exports: onnx, torchscript)\n")
    assert not (tmp_path / "x.ts").exists()


def test_sample_rate_only_for_an_export_that_plays_audio(tmp_path, capsys):
    folder = small_instrument("melody").save(tmp_path / "tiny-melody")
    status, _, err = _run(capsys, folder, "--format", "onnx", "-o", tmp_path / "x.onnx", "--sample-rate", "48000")
    assert status == 2 and err == ("musicvae: error: --sample-rate sets the rate of an nn-tilde synth; 'tiny-melody' "
                                   "is a melody instrument: its exports are symbolic\n")
    status, _, err = _run(capsys, folder, "--format", "onnx", "-o", tmp_path / "x.onnx", "--sample-rate", "100")
    assert status == 2 and "--sample-rate" in err and err.count("\n") == 1
    assert not list(tmp_path.glob("x*"))


def test_unwritable_output_and_wrong_extension(tmp_path, capsys):
    status, _, err = _run(capsys, "melody-2bar", "--format", "onnx", "-o", "/proc/decoder.onnx")
    assert status == 2 and err.count("\n") == 1 and "cannot write to /proc" in err
    (tmp_path / "file").write_text("")
    status, _, err = _run(capsys, "melody-2bar", "--format", "onnx", "-o", tmp_path / "file" / "decoder.onnx")
    assert status == 2 and err.count("\n") == 1
    status, _, err = _run(capsys, "melody-2bar", "--format", "onnx", "-o", tmp_path / "decoder.ts")
    assert status == 2 and err == f"musicvae: error: '{tmp_path / 'decoder.ts'}': onnx files end in .onnx\n"
