"""Atomic outputs: nothing half-written, one-line errors on unwritable paths."""

import os

import pytest

from musicvae.errors import OutputError
from musicvae.io import atomic_dir, atomic_write, atomic_write_text


def test_atomic_write_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "out.txt"

    def fail(tmp):
        tmp.write_text("partial")
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        atomic_write(target, fail)
    assert not target.exists()
    assert os.listdir(tmp_path) == []


def test_atomic_write_replaces(tmp_path):
    target = tmp_path / "sub" / "out.txt"
    atomic_write_text(target, "one")
    atomic_write_text(target, "two")
    assert target.read_text() == "two"
    assert os.listdir(target.parent) == ["out.txt"]


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write anywhere")
def test_unwritable_folder_is_output_error(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    with pytest.raises(OutputError, match="cannot write"):
        atomic_write_text(locked / "x.txt", "x")


def test_output_in_an_uncreatable_folder_is_output_error():
    with pytest.raises(OutputError, match="cannot create"):
        atomic_write_text("/proc/musicvae-test/x.txt", "x")


def test_output_under_a_file_is_output_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(OutputError, match="cannot create"):
        atomic_write_text(blocker / "x.txt", "x")
    with pytest.raises(OutputError, match="is a folder"):
        atomic_write_text(tmp_path, "x")


def test_atomic_dir_swaps_whole_folder(tmp_path):
    target = tmp_path / "inst"
    with atomic_dir(target) as tmp:
        (tmp / "a").write_text("1")
    with pytest.raises(RuntimeError), atomic_dir(target) as tmp:
        (tmp / "b").write_text("2")
        raise RuntimeError("fail mid-write")
    assert sorted(os.listdir(target)) == ["a"]
    assert sorted(os.listdir(tmp_path)) == ["inst"]


def test_atomic_files_follow_the_umask(tmp_path):
    old = os.umask(0o022)
    try:
        path = atomic_write_text(tmp_path / "x.txt", "x")
    finally:
        os.umask(old)
    assert (path.stat().st_mode & 0o777) == 0o644


def test_a_pseudo_file_system_is_one_output_error_and_check_output_creates_nothing(tmp_path):
    from musicvae.io import check_output

    for writer in (lambda p: atomic_write_text(p, "x"), check_output):
        with pytest.raises(OutputError, match="cannot write to /proc: no files can be created there"):
            writer("/proc/x.mid")
    assert check_output(tmp_path / "new" / "deeper" / "x.mid") == tmp_path / "new" / "deeper" / "x.mid"
    assert check_output(tmp_path / "out", folder=True) == tmp_path / "out"
    assert list(tmp_path.iterdir()) == []  # nothing created, not even the probe
    (tmp_path / "file").write_text("x")
    with pytest.raises(OutputError, match="is a file, expected a folder"):
        check_output(tmp_path / "file", folder=True)
    with pytest.raises(OutputError, match="it is a file"):
        check_output(tmp_path / "file" / "x.mid")
