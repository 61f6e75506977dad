"""Live and synth sessions the page starts and stops on this machine's ports, and the knob that morphs them.

A session is :func:`musicvae.realtime.live.run_live` (``musicvae live``) or
:func:`musicvae.realtime.synth_run.run_synth` (``musicvae synth``) on a thread of its
own, stopped by its stop event (the way every run stops: all notes off first).
Each listens for OSC on a free port of 127.0.0.1, and the page's knob sends
``/morph f`` there: the morph takes the path a control surface's OSC message
takes (and a MIDI control change's, into the same parameter store), so the knob
also takes a ``--morph`` automation over as they do.

Set-up (reading the melodies, opening the ports) happens before :meth:`Sessions.start_live`
returns, so that a bad file or a port that cannot open is the page's one line.
"""

from __future__ import annotations

import contextlib
import itertools
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from musicvae.errors import InputError
from musicvae.realtime.control import free_osc_port

#: Seconds a stop waits for the session's thread (a run stops within about half a second).
STOP_WAIT = 5.0
#: Seconds a start waits for the run to be ready (the first phrase decoded, the synth's range warmed).
READY_WAIT = 60.0
#: Sessions that may run at once.
MAX_SESSIONS = 4


@dataclass
class Session:
    """One running ``live`` or ``synth``."""

    id: str
    kind: str  # "live" or "synth"
    description: str
    osc_port: int
    stop: threading.Event = field(default_factory=threading.Event)
    ready: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None
    params: Any = None  # the live run's ParamStore (the synth keeps its own)
    morph: float = 0.0
    summary: str | None = None
    error: str | None = None
    warnings: list[str] = field(default_factory=list)

    @property
    def running(self) -> bool:
        return self.thread is not None and self.thread.is_alive()

    def describe(self) -> dict[str, Any]:
        morph = self.params.snapshot.morph if self.params is not None else self.morph
        return {"id": self.id, "kind": self.kind, "description": self.description, "running": self.running,
                "ready": self.ready.is_set(), "osc_port": self.osc_port, "morph": round(float(morph), 4),
                "summary": self.summary, "error": self.error, "warnings": self.warnings}

    def send_morph(self, amount: float) -> None:
        """``/morph amount`` to the session's OSC server: what a control surface sends."""
        from pythonosc.udp_client import SimpleUDPClient

        if not self.running:
            raise InputError(f"the {self.kind} session has stopped")
        SimpleUDPClient("127.0.0.1", self.osc_port).send_message("/morph", float(amount))
        self.morph = min(1.0, max(0.0, float(amount)))


class Sessions:
    """The studio's running sessions."""

    def __init__(self, studio) -> None:
        self.studio = studio
        self._sessions: dict[str, Session] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    def list(self) -> list[dict]:
        with self._lock:
            return [s.describe() for s in self._sessions.values()]

    def get(self, session_id: str) -> Session:
        with self._lock:
            session = self._sessions.get(session_id)
        if session is None:
            raise InputError(f"no session {session_id!r} (it may have been stopped)")
        return session

    def _new(self, kind: str, description: str) -> Session:
        with self._lock:
            if sum(s.running for s in self._sessions.values()) >= MAX_SESSIONS:
                raise InputError(f"{MAX_SESSIONS} sessions are running: stop one first")
            session = Session(id=str(next(self._ids)), kind=kind, description=description, osc_port=free_osc_port())
            self._sessions[session.id] = session
        return session

    def start_live(self, a: Path, b: Path, *, names: dict[str, str], midi_out: str, midi_api: str | None,
                   bpm: float, temperature: float, morph: float) -> Session:
        """``musicvae live MELODY --a A --b B --midi-out PORT --osc-port P ...`` until stopped."""
        from musicvae.realtime import live
        from musicvae.realtime.midi_io import open_output

        params = live.parse_params(morph, temperature)
        core, warnings = live.build_player(self.studio.melody, a=a, b=b, params=params)
        output = open_output(midi_out, api=midi_api)
        session = self._new("live", f"{names.get(str(a), a)} \u2192 {names.get(str(b), b)} on MIDI output "
                                    f"{output.name!r}, {bpm:g} BPM")
        session.params, session.morph, session.warnings = params, morph, warnings

        def run() -> None:
            try:
                report = live.run_live(core, output, params, bpm=bpm, osc_port=session.osc_port, stop=session.stop,
                                       on_ready=session.ready.set)
                session.summary = report.summary()
            except Exception as error:  # noqa: BLE001 - a lost port or a bug: the page shows the line
                session.error = str(error)
            finally:
                with contextlib.suppress(Exception):
                    output.close()
                session.ready.set()

        return self._run(session, run)

    def start_synth(self, *, midi_in: str, audio_out: str | None, audio_api: str | None, midi_api: str | None,
                    morph: float, voices: int) -> Session:
        """``musicvae synth TIMBRE --midi-in PORT --osc-port P ...`` until stopped."""
        from musicvae.realtime import synth_run

        session = self._new("synth", f"{self.studio.timbre.name}: MIDI input {midi_in!r} to audio output "
                                     f"{audio_out or 'default'!r}")
        session.morph = morph

        def run() -> None:
            try:
                report = synth_run.run_synth(self.studio.timbre, midi_in=midi_in, audio_out=audio_out,
                                             audio_api=audio_api, midi_api=midi_api, osc_port=session.osc_port,
                                             morph=morph, voices=voices, stop=session.stop, on_ready=session.ready.set)
                session.summary = report.summary()
            except Exception as error:  # noqa: BLE001 - a missing device or port: the page shows the line
                session.error = str(error)
            finally:
                session.ready.set()

        return self._run(session, run)

    def _run(self, session: Session, run) -> Session:
        session.thread = threading.Thread(target=run, name=f"studio-{session.kind}-{session.id}", daemon=True)
        session.thread.start()
        session.ready.wait(READY_WAIT)
        if session.error is not None:
            raise InputError(session.error)
        return session

    def stop(self, session_id: str) -> Session:
        """Stop a session (all notes off, ports closed) and wait for it, at most :data:`STOP_WAIT` seconds."""
        session = self.get(session_id)
        session.stop.set()
        if session.thread is not None:
            session.thread.join(STOP_WAIT)
        return session

    def close(self) -> None:
        with self._lock:
            sessions = list(self._sessions.values())
        for session in sessions:
            session.stop.set()
        for session in sessions:
            if session.thread is not None:
                session.thread.join(STOP_WAIT)
