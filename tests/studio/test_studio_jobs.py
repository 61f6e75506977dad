"""The studio's job runner: progress a long poll wakes on, results, one-line errors with the user's file names,
and the command's refusal of an address it cannot listen on."""

from __future__ import annotations

import socket
import threading
import time

from musicvae.cli import main
from musicvae.errors import InputError
from musicvae.studio.jobs import Job, JobRunner


def _wait_done(job: Job, timeout: float = 10.0) -> None:
    end = time.monotonic() + timeout
    while job.state not in ("done", "error"):
        assert time.monotonic() < end, job.describe()
        job.wait(job.version, 0.5)


def test_a_long_poll_wakes_on_each_step_and_ends_with_the_result(tmp_path):
    runner = JobRunner(tmp_path)
    go = [threading.Event() for _ in range(3)]

    def work(job: Job) -> dict:
        for i, event in enumerate(go):
            event.wait(5)
            job.progress(i + 1, 3, f"step {i + 1}")
        return {"answer": 42}

    job = runner.submit(runner.new("test"), work)
    seen = []
    for event in go:
        version = job.version
        event.set()
        job.wait(version, 5)  # returns on the step, long before its timeout
        seen.append((job.done, job.stage))
    _wait_done(job)
    assert seen == [(1, "step 1"), (2, "step 2"), (3, "step 3")]
    assert job.describe()["result"] == {"answer": 42} and job.state == "done" and job.seconds >= 0
    started = time.monotonic()
    job.wait(job.version, 5)  # a finished job answers at once
    assert time.monotonic() - started < 1.0
    runner.close()


def test_errors_are_one_line_with_the_names_the_user_gave(tmp_path):
    runner = JobRunner(tmp_path)
    job = runner.new("test")
    upload = job.folder / "a" / "my tune.mid"
    job.names[str(upload)] = "my tune.mid"

    def bad(_job: Job) -> dict:
        raise InputError(f"{upload}: unreadable or truncated MIDI file")

    _wait_done(runner.submit(job, bad))
    assert job.state == "error" and job.error == "my tune.mid: unreadable or truncated MIDI file"

    def bug(_job: Job) -> dict:
        raise ZeroDivisionError("division by zero")

    other = runner.submit(runner.new("test"), bug)
    _wait_done(other)
    assert other.error == "internal error: division by zero (the studio's terminal shows where)"
    assert "\n" not in other.error
    runner.close()


def test_a_refused_request_leaves_no_job_behind(tmp_path):
    runner = JobRunner(tmp_path)
    job = runner.new("test")
    (job.folder / "upload.mid").write_bytes(b"x")
    runner.discard(job)
    assert runner.get(job.id) is None and not job.folder.exists()
    runner.close()


def test_studio_on_a_port_in_use_is_one_line(capsys):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["studio", "--no-browser", "--port", str(port)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"musicvae: error: cannot listen on 127.0.0.1:{port}"), err
