"""Recipe hashing: a source's fingerprint follows its files' contents, not where or when they were written."""

from __future__ import annotations

import os
import shutil

from musicvae.data import recipes
from musicvae.data.recipes import files_fingerprint


def test_fingerprint_follows_content_not_modification_time(tmp_path):
    small = tmp_path / "a.mid"
    small.write_bytes(b"MThd" + bytes(range(200)))
    first = files_fingerprint([("a.mid", small)])
    os.utime(small, (1_000_000, 1_000_000))  # touched, copied elsewhere, unpacked another day: the same file
    copy = tmp_path / "elsewhere" / "a.mid"
    copy.parent.mkdir()
    shutil.copy(small, copy)
    assert files_fingerprint([("a.mid", small)]) == first == files_fingerprint([("a.mid", copy)])
    small.write_bytes(b"MThd" + bytes(range(1, 201)))  # same size, other bytes
    assert files_fingerprint([("a.mid", small)]) != first
    assert files_fingerprint([("b.mid", copy)]) != first  # the name is part of it
    assert files_fingerprint([("a.mid", copy), ("a.mid", copy)]) != first


def test_a_large_file_is_read_by_its_size_and_ends(tmp_path, monkeypatch):
    monkeypatch.setattr(recipes, "_WHOLE_FILE_BYTES", 64)
    monkeypatch.setattr(recipes, "_END_BYTES", 16)
    big = tmp_path / "font.sf2"
    data = bytearray(range(256)) * 4
    big.write_bytes(bytes(data))
    first = files_fingerprint([("font.sf2", big)])
    for where in (0, len(data) - 1):  # a byte changed within either end: another SoundFont
        changed = bytearray(data)
        changed[where] ^= 0xFF
        big.write_bytes(bytes(changed))
        assert files_fingerprint([("font.sf2", big)]) != first, where
    big.write_bytes(bytes(data) + b"\0")  # another size
    assert files_fingerprint([("font.sf2", big)]) != first
    big.write_bytes(bytes(data))
    assert files_fingerprint([("font.sf2", big)]) == first
