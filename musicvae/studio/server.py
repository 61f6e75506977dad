"""Serving the studio: load the instruments, pick the access rules for the address, run uvicorn, open the page."""

from __future__ import annotations

import ipaddress
import secrets
import socket
import sys
import tempfile
import threading
import webbrowser
from pathlib import Path

from musicvae.errors import InputError


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a name or an address) means this machine only."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def load_instruments(*, melody: str, timbre: str, accompanist: str) -> dict:
    """The studio's three instruments by kind, each checked to be of its kind (InstrumentError)."""
    from musicvae.instrument import Instrument

    return {"melody": Instrument.load(melody).require_kind("melody"),
            "timbre": Instrument.load(timbre).require_kind("timbre"),
            "accompanist": Instrument.load(accompanist).require_kind("accompanist")}


def serve(*, host: str = "127.0.0.1", port: int = 8765, open_browser: bool = True, melody: str = "melody-2bar",
          timbre: str = "flute-guitar", accompanist: str = "bach-accompanist", ready=None) -> None:
    """Run the studio until Ctrl-C: ``musicvae studio``.

    Bound to a loopback address by default; bound beyond it, a token is generated, printed in the
    address to open, and required on every request. ``port`` 0 takes a free port. ``ready(url)`` is
    called once the server listens (tests and the bench learn the address there).

    Raises
    ------
    InputError
        The address cannot be listened on; the instruments cannot be loaded (InstrumentError).
    """
    import uvicorn

    from musicvae.studio.app import create_app
    from musicvae.studio.work import Studio

    instruments = load_instruments(melody=melody, timbre=timbre, accompanist=accompanist)
    import torch

    # One torch thread a job: the pool runs two jobs at once, and a small decode is latency-bound (two threads
    # each would fight over a 2-core machine's cores with the page's own browser).
    torch.set_num_threads(1)
    loopback = is_loopback(host)
    token = None if loopback else secrets.token_urlsafe(24)
    try:
        listener = socket.create_server((host.strip("[]"), port),
                                        family=socket.AF_INET6 if ":" in host else socket.AF_INET)
    except OSError as error:
        raise InputError(f"cannot listen on {host}:{port} ({error.strerror or error}); pick another --port "
                         "or --host") from None
    with tempfile.TemporaryDirectory(prefix="musicvae-studio-") as root:
        studio = Studio(**instruments, root=Path(root))
        app = create_app(studio, token=token, loopback=loopback)
        threading.Thread(target=studio.warm, name="studio-warm", daemon=True).start()
        bound = listener.getsockname()[1]
        shown = f"[{host}]" if ":" in host else host
        url = f"http://{'127.0.0.1' if loopback else shown}:{bound}/" + (f"?token={token}" if token else "")
        config = uvicorn.Config(app, log_level="warning", lifespan="on", timeout_graceful_shutdown=2)
        server = uvicorn.Server(config)

        def announce() -> None:
            while not server.started and not server.should_exit:
                threading.Event().wait(0.02)
            if not server.started:
                return
            print(f"musicvae studio on {url}" + ("" if loopback else "  (the token is required: share this "
                                                                   "address only with whom may play)"),
                  file=sys.stderr, flush=True)
            print("Ctrl-C stops it", file=sys.stderr, flush=True)
            if ready is not None:
                ready(url)
            if open_browser:
                webbrowser.open(url)

        threading.Thread(target=announce, name="studio-announce", daemon=True).start()
        server.run(sockets=[listener])
