"""Work the page asks for, run on a small thread pool as jobs whose progress it can follow.

A :class:`Job` counts its steps (``done`` of ``total``, with the stage's name) and
bumps ``version`` on every change, so that the page's long poll
(:meth:`Job.wait`) returns as soon as something moved rather than on a fixed
tick. A job that raises a :class:`~musicvae.errors.MusicVAEError` ends with
its one-line message, the upload's temporary path replaced by the name the
user dropped; anything else is a bug, shown as one line too and printed with its
traceback on the studio's terminal.
"""

from __future__ import annotations

import itertools
import shutil
import sys
import threading
import time
import traceback
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from musicvae.errors import MusicVAEError

#: Finished jobs kept (with their files) before the oldest are dropped.
KEEP_JOBS = 100
#: Longest a long poll waits for news, in seconds.
MAX_WAIT = 10.0


@dataclass
class Job:
    """One piece of work: its progress, then its result (plain JSON values) or its error line.

    Attributes
    ----------
    id : str
    kind : str
        What the job does ("morph", "blend"...).
    folder : Path
        The job's own temporary folder: its uploads and outputs.
    names : dict[str, str]
        Temporary path -> the name the user gave it, for error messages.
    """

    id: str
    kind: str
    folder: Path
    names: dict[str, str] = field(default_factory=dict)
    state: str = "queued"  # queued, running, done, error
    done: int = 0
    total: int = 1
    stage: str = "waiting"
    result: dict[str, Any] | None = None
    error: str | None = None
    started: float = field(default_factory=time.perf_counter)
    seconds: float | None = None
    version: int = 0
    _changed: threading.Condition = field(default_factory=threading.Condition, repr=False)

    def progress(self, done: int, total: int, stage: str | None = None) -> None:
        """Report ``done`` of ``total`` steps (and the stage's name); wakes the page's poll."""
        with self._changed:
            self.done, self.total = int(done), max(1, int(total))
            if stage is not None:
                self.stage = stage
            self.version += 1
            self._changed.notify_all()

    def _finish(self, *, state: str, result: dict | None = None, error: str | None = None) -> None:
        with self._changed:
            self.state, self.result, self.error = state, result, error
            self.seconds = time.perf_counter() - self.started
            if state == "done":
                self.done = self.total
            self.version += 1
            self._changed.notify_all()

    def wait(self, after: int, timeout: float) -> None:
        """Block until ``version`` passes ``after``, the job ends, or ``timeout`` seconds pass."""
        deadline = time.monotonic() + min(max(0.0, timeout), MAX_WAIT)
        with self._changed:
            while self.version <= after and self.state not in ("done", "error"):
                left = deadline - time.monotonic()
                if left <= 0:
                    return
                self._changed.wait(left)

    def describe(self) -> dict[str, Any]:
        """What the page reads: state, progress, and the result or error."""
        return {"id": self.id, "kind": self.kind, "state": self.state, "done": self.done, "total": self.total,
                "stage": self.stage, "version": self.version, "result": self.result, "error": self.error,
                "seconds": self.seconds}

    def message(self, error: MusicVAEError) -> str:
        """The error's line with every temporary path named as the user named the file."""
        text = str(error)
        for path, name in sorted(self.names.items(), key=lambda item: -len(item[0])):
            text = text.replace(path, name)
        return text.replace(str(self.folder) + "/", "")


class JobRunner:
    """Runs jobs on ``workers`` threads, each in a folder of its own under ``root``.

    Parameters
    ----------
    root : Path
        The studio's temporary folder.
    workers : int, keyword-only
        Threads (two: a long harmonisation does not hold up a morph).
    """

    def __init__(self, root: Path, *, workers: int = 2) -> None:
        self.root = Path(root)
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="studio-job")
        self._jobs: OrderedDict[str, Job] = OrderedDict()
        self._lock = threading.Lock()
        self._ids = itertools.count(1)

    def new(self, kind: str) -> Job:
        """A queued job with an empty folder (uploads are saved into it before it is submitted)."""
        with self._lock:
            job_id = f"{next(self._ids)}"
            folder = self.root / "jobs" / job_id
            folder.mkdir(parents=True)
            job = self._jobs[job_id] = Job(id=job_id, kind=kind, folder=folder)
            while len(self._jobs) > KEEP_JOBS:
                _, old = self._jobs.popitem(last=False)
                shutil.rmtree(old.folder, ignore_errors=True)
        return job

    def discard(self, job: Job) -> None:
        """Forget a job that was never submitted (its upload was refused) and remove its folder."""
        with self._lock:
            self._jobs.pop(job.id, None)
        shutil.rmtree(job.folder, ignore_errors=True)

    def get(self, job_id: str) -> Job | None:
        with self._lock:
            return self._jobs.get(job_id)

    def submit(self, job: Job, work: Callable[[Job], dict]) -> Job:
        """Run ``work(job)`` on the pool; its return value is the job's result."""
        self._pool.submit(self._run, job, work)
        return job

    def _run(self, job: Job, work: Callable[[Job], dict]) -> None:
        with job._changed:
            job.state, job.started = "running", time.perf_counter()
        try:
            result = work(job)
        except MusicVAEError as error:
            job._finish(state="error", error=job.message(error))
        except Exception as error:  # noqa: BLE001 - a bug: one line in the page, the traceback on the terminal
            traceback.print_exc(file=sys.stderr)
            job._finish(state="error", error=f"internal error: {error} (the studio's terminal shows where)")
        else:
            job._finish(state="done", result=result)

    def close(self) -> None:
        """Stop taking jobs; queued ones are dropped, running ones finish."""
        self._pool.shutdown(wait=False, cancel_futures=True)
