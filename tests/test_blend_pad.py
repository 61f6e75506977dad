"""The pad: a bilinear point between four families' latents, on a tiny four-family instrument trained for a few
steps on TimGM6mb renders."""

import re

import numpy as np
import pytest
import soundfile
from timbre_fixtures import RECIPE_4, make_tiny_instrument

from musicvae import blend
from musicvae.cli import main
from musicvae.errors import InputError
from musicvae.instrument import Instrument

CORNERS = ["flute", "guitar", "string", "brass"]


@pytest.fixture(scope="module")
def four(tmp_path_factory):
    root = tmp_path_factory.mktemp("pad")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MUSICVAE_CACHE", str(root / "cache"))
        yield Instrument.load(make_tiny_instrument(root, recipe_text=RECIPE_4, name="tiny-four", folder="four"))


def test_the_pad_is_bilinear_between_its_corners(four):
    assert sorted(blend.families(four)) == sorted(CORNERS)
    a, b, c, d = (blend.family_latent(four, f) for f in CORNERS)
    for xy, corner in (((0, 0), a), ((1, 0), b), ((0, 1), c), ((1, 1), d)):
        np.testing.assert_allclose(blend.pad_latent(four, CORNERS, xy), corner, atol=1e-6)
        # At a pitch, between the families' latents at that pitch.
        at = dict(zip(((0, 0), (1, 0), (0, 1), (1, 1)), (blend.family_latent(four, f, 61) for f in CORNERS)))
        np.testing.assert_allclose(blend.pad_latent(four, CORNERS, xy, pitch=61), at[xy], atol=1e-6)
    # Any point: along x on both rows, then along y between them.
    x, y = 0.3, 0.7
    bottom, top = a + x * (b - a), c + x * (d - c)
    np.testing.assert_allclose(blend.pad_latent(four, CORNERS, (x, y)), bottom + y * (top - bottom), atol=1e-6)
    # An edge is the straight line between its two corners; the centre is the corners' mean.
    np.testing.assert_allclose(blend.pad_latent(four, CORNERS, (0.25, 0)), 0.75 * a + 0.25 * b, atol=1e-6)
    np.testing.assert_allclose(blend.pad_latent(four, CORNERS, (0.5, 0.5)), (a + b + c + d) / 4, atol=1e-6)


def test_pad_decodes_the_point_and_the_command_writes_it(four, tmp_path, capsys):
    result = blend.pad(four, CORNERS, (1.0, 1.0), pitch=61)
    endpoint = blend.decode_spectrograms(four, blend.family_latent(four, "brass", 61)[None], 61)
    np.testing.assert_allclose(result.spectrograms, endpoint, atol=1e-5)  # the corner is the family at the pitch
    assert result.audio.shape == (1, 8000) and np.isfinite(result.audio).all()
    out = tmp_path / "pad.wav"
    assert main(["blend", str(four.path), "--pad", ",".join(CORNERS), "--xy", "0.3,0.7", "--pitch", "62",
                 "-o", str(out), "--plot", str(tmp_path / "pad.png")]) == 0
    audio, rate = soundfile.read(out, dtype="float32")
    want = blend.pad(four, CORNERS, (0.3, 0.7), pitch=62).audio[0]
    assert rate == 16_000 and np.allclose(audio, want, atol=1e-4)
    assert "wrote" in capsys.readouterr().out and (tmp_path / "pad.png").stat().st_size > 1000


@pytest.mark.parametrize("corners,message", [
    ("flute,guitar,string,banjo", "has no family 'banjo'.*it knows: brass, flute, guitar, string"),
    ("flute,guitar,flute,brass", "must be different families of brass, flute, guitar, string"),
])
def test_bad_corners_are_one_line(four, corners, message):
    with pytest.raises(InputError, match=message):
        blend.pad(four, corners.split(","), (0.5, 0.5))


def test_pad_errors_on_the_command_line(four, tmp_path, capsys):
    cases = [
        (["blend", "flute-guitar", "--pad", ",".join(CORNERS)],
         r"instrument 'flute-guitar' has 2 families \(flute, guitar\); a pad needs 4"),
        (["blend", str(four.path), "--pad", "flute,guitar,string"], "argument --pad: expected four families"),
        (["blend", str(four.path), "--pad", ",".join(CORNERS), "--xy", "1.2,0.5"], "argument --xy: expected a point"),
        (["blend", str(four.path), "--pad", ",".join(CORNERS), "--xy", "0.5,-0.1"], "argument --xy"),
        (["blend", str(four.path), "--pad", ",".join(CORNERS), "--xy", "nan,0.5"], "argument --xy"),
        (["blend", str(four.path), "--pad", ",".join(CORNERS), "--xy", "0.5"], "argument --xy"),
        (["blend", str(four.path), "--xy", "0.5,0.5"], "--xy places the point on a --pad"),
        (["blend", str(four.path), "--pad", ",".join(CORNERS), "--from", "flute"], "--pad decodes one note"),
        (["blend", str(four.path), "--from", "banjo"], "has no family 'banjo'.*it knows: brass, flute, guitar, string"),
    ]
    for argv, message in cases:
        out = tmp_path / "x.wav"
        assert main([*argv, "-o", str(out)]) == 2, argv
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and re.search(message, err), (argv, err)
        assert not out.exists()


def test_family_names_blend_any_two(four):
    result = blend.blend(four, source="string", target="brass", steps=3, pitch=60)
    assert result.labels == ("string", "brass")
    np.testing.assert_allclose(result.spectrograms[-1], blend.decode_spectrograms(
        four, blend.family_latent(four, "brass", 60)[None], 60)[0], atol=1e-5)


def test_the_live_synth_decodes_the_offline_pad_note(four):
    """``synth --pad`` decodes the same latent and note as ``blend --pad`` (at the instrument's rate)."""
    from musicvae.realtime.note_cache import NoteCache
    from musicvae.realtime.pad import pad_note_decoder

    cache = NoteCache(pad_note_decoder(four, CORNERS), pad=True, blocking=True)
    for xy in ((0.25, 0.75), (1.0, 0.0)):  # on the cache's 1/16 steps
        offline = blend.pad(four, CORNERS, xy, pitch=62)
        note = cache.get(cache.key(62, xy))
        assert not offline.level and not cache.errors
        np.testing.assert_allclose(note.audio, offline.audio[0], atol=1e-6)
    assert not np.allclose(cache.get(cache.key(62, (0.25, 0.75))).audio, cache.get(cache.key(62, (1.0, 0.0))).audio)
    with pytest.raises(InputError, match="has no family 'banjo'.*it knows: brass, flute, guitar, string"):
        pad_note_decoder(four, ["flute", "guitar", "string", "banjo"])
