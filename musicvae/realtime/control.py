"""Controls that write the parameter snapshot: MIDI control changes, OSC, and morph automation.

A four-corner pad (``synth --pad``) takes its point (x, y) from two control changes, or from OSC
``/xy f f`` (both at once), ``/x f`` and ``/y f``.

They only overwrite :class:`~musicvae.realtime.params.ParamStore`, so a flood of
messages costs one small object per message and never queues work for the
engines. Malformed messages are counted in ``ignored`` (and warned about once),
never raised: a control surface sending garbage must not stop a performance.
An automation writes by compare-and-set and yields to the first performer who
moves the morph.
"""

from __future__ import annotations

import math
import random
import socket
import sys
import threading
import time
from collections.abc import Callable

from musicvae.errors import InputError
from musicvae.realtime.params import ParamStore
from musicvae.realtime.stopping import WORKER_JOIN, join

CONTROL_CHANGE = 0xB0
#: How often (in seconds) the OSC server's loop looks whether it should stop.
_POLL = 0.05
#: Where :func:`free_osc_port` looks: registered ports below Linux's ephemeral range (32768-60999), above
#: Ableton Link's discovery port (20808).
_OSC_PORTS = range(21000, 32768)
_EPHEMERAL = "/proc/sys/net/ipv4/ip_local_port_range"


def free_osc_port(*, host: str = "127.0.0.1", rng: random.Random | None = None) -> int:
    """A UDP port of ``host`` that nothing holds now and that the kernel will not hand out by itself.

    A port picked by binding port 0 lies in the ephemeral range, where the next socket anyone opens
    without a port (a DNS lookup, a client's send) may take it before the OSC server binds it, and the
    session would fail with "Address already in use". Below that range only a program that asks for
    the very port can take it.

    Parameters
    ----------
    host : str, keyword-only
    rng : random.Random, optional, keyword-only
        Where to start looking (two callers picking at once should not pick the same port).

    Returns
    -------
    int
        The port.
    """
    low = 32768
    try:
        with open(_EPHEMERAL) as f:
            low = int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        pass
    ports = range(_OSC_PORTS.start, max(min(low, _OSC_PORTS.stop), _OSC_PORTS.start + 1))
    start = (rng or random.Random()).randrange(len(ports))
    for i in range(len(ports)):
        port = ports[(start + i) % len(ports)]
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            try:
                probe.bind((host, port))
            except OSError:
                continue
        return port
    raise InputError(f"no free UDP port for OSC on {host} between {ports.start} and {ports.stop - 1}")


class CCControl:
    """Maps MIDI control changes to parameters: ``value / 127``.

    Parameters
    ----------
    params : ParamStore
    morph_cc : int, optional, keyword-only
        Controller number of the morph amount (1 = mod wheel); None = not mapped.
    temperature_cc : int, optional, keyword-only
        Controller number of the temperature, scaled to 0..``max_temperature``.
    channel : int, optional, keyword-only
        Listen on this channel (0-based) only; None = any.
    xy_cc : (int, int), optional, keyword-only
        Controller numbers of a pad's x and y (each ``value / 127``); None = not mapped.
    """

    def __init__(self, params: ParamStore, *, morph_cc: int | None = 1, temperature_cc: int | None = None,
                 channel: int | None = None, max_temperature: float = 2.0,
                 xy_cc: tuple[int, int] | None = None) -> None:
        self.x_cc, self.y_cc = (None, None) if xy_cc is None else (int(xy_cc[0]), int(xy_cc[1]))
        mapped = [cc for cc in (morph_cc, temperature_cc, self.x_cc, self.y_cc) if cc is not None]
        for cc in mapped:
            if not 0 <= cc <= 119:
                raise InputError(f"controller numbers lie in 0..119 (120..127 are channel mode messages), got {cc}")
        if len(set(mapped)) != len(mapped):
            raise InputError(f"each control needs a controller of its own, got {', '.join(map(str, mapped))}")
        self.params, self.morph_cc, self.temperature_cc = params, morph_cc, temperature_cc
        self.channel, self.max_temperature = channel, max_temperature
        self.handled = 0

    def handle(self, message: list[int]) -> bool:
        """Apply one MIDI message if it is a mapped control change; returns whether it was used."""
        if len(message) != 3 or message[0] & 0xF0 != CONTROL_CHANGE:
            return False
        if self.channel is not None and message[0] & 0x0F != self.channel:
            return False
        number, value = message[1], message[2]
        if not 0 <= value <= 127:
            return False
        if number == self.morph_cc:
            self.params.update(morph=value / 127.0)
        elif number == self.temperature_cc:
            self.params.update(temperature=value / 127.0 * self.max_temperature)
        elif number == self.x_cc:
            self.params.update(x=value / 127.0)
        elif number == self.y_cc:
            self.params.update(y=value / 127.0)
        else:
            return False
        self.handled += 1
        return True


class OscControl:
    """An OSC server (python-osc, UDP) on its own thread: ``/morph f`` (0..1), ``/temperature f`` (>= 0).

    With ``pad``, ``/xy f f``, ``/x f`` and ``/y f`` (each 0..1) move a pad's point instead of ``/morph``.

    Parameters
    ----------
    params : ParamStore
    port : int, keyword-only
        UDP port; 0 picks a free one (see :attr:`port`).
    host : str, keyword-only
        127.0.0.1 by default: OSC has no authentication, so it listens on this machine only unless asked.
    pad : bool, keyword-only
        Listen for a pad's point rather than a morph.
    """

    def __init__(self, params: ParamStore, *, port: int = 9000, host: str = "127.0.0.1", pad: bool = False) -> None:
        from pythonosc.dispatcher import Dispatcher
        from pythonosc.osc_server import BlockingOSCUDPServer

        self.params = params
        self.handled = 0
        self.ignored = 0
        dispatcher = Dispatcher()
        if pad:
            dispatcher.map("/xy", self._point)
            dispatcher.map("/x", self._axis, "x")
            dispatcher.map("/y", self._axis, "y")
        else:
            dispatcher.map("/morph", self._set, "morph")
        dispatcher.map("/temperature", self._set, "temperature")
        #: What it listens for, as the start-up line and the unknown-address warning say.
        self.addresses = "/xy f f, /x f, /y f, /temperature f" if pad else "/morph f, /temperature f"
        dispatcher.set_default_handler(self._unknown)
        try:
            self._server = BlockingOSCUDPServer((host, port), dispatcher)
        except OSError as error:
            raise InputError(f"cannot listen for OSC on {host}:{port} ({error.strerror or error}); "
                             "pick another --osc-port") from None
        self.host, self.port = self._server.server_address[:2]
        # Our own loop rather than serve_forever(): its shutdown() waits, without a bound, for a loop
        # that may never have started or may have died; this one looks at the stop flag every 50 ms.
        self._server.timeout = _POLL
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="osc", daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                self._server.handle_request()
            except OSError:  # the socket was closed under us: the server is closing
                return

    def _set(self, address: str, fixed: list, *args) -> None:
        # Handlers return None: python-osc sends a return value back to the sender as a reply.
        name = fixed[0]
        value = args[0] if len(args) == 1 else None
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            self._ignore(f"OSC {address} expects one number, got {args!r}")
            return None
        if self.params.update(**{name: float(value)}):
            self.handled += 1
        return None

    # A pad's point is refused, not clamped as /morph is, when a value lies outside 0..1: a pad sends 0..1,
    # so such a value comes from a surface scaled otherwise (0..127, -1..1), and clamping would pin the
    # point to an edge or corner the performer never touched. Refusals are counted in ``ignored``.
    def _point(self, address: str, *args) -> None:
        if len(args) != 2 or not all(_finite(v) for v in args):
            self._ignore(f"OSC {address} expects two numbers x y, each 0..1, got {args!r}")
        elif not all(0.0 <= v <= 1.0 for v in args):
            self._ignore(f"OSC {address} point lies in 0..1 on each axis, got {args[0]:g} {args[1]:g}")
        elif self.params.update(x=float(args[0]), y=float(args[1])):  # both at once: never half a move
            self.handled += 1
        return None

    def _axis(self, address: str, fixed: list, *args) -> None:
        if len(args) != 1 or not _finite(args[0]):
            self._ignore(f"OSC {address} expects one number 0..1, got {args!r}")
        elif not 0.0 <= args[0] <= 1.0:
            self._ignore(f"OSC {address} lies in 0..1, got {args[0]:g}")
        elif self.params.update(**{fixed[0]: float(args[0])}):
            self.handled += 1
        return None

    def _unknown(self, address: str, *args) -> None:
        self._ignore(f"unknown OSC address {address!r} (known: {self.addresses})")
        return None

    def _ignore(self, reason: str) -> None:
        self.ignored += 1
        if self.ignored == 1:  # once: a flood of bad messages must not flood the terminal
            print(f"warning: {reason}; ignoring such messages", file=sys.stderr)

    def close(self, timeout: float = WORKER_JOIN) -> None:
        """Stop listening: the loop ends within one poll (``timeout`` bounds the wait)."""
        self._stop.set()
        join(self._thread, timeout)
        self._server.server_close()


def _finite(value) -> bool:
    return not isinstance(value, bool) and isinstance(value, int | float) and math.isfinite(value)


class MorphAutomation:
    """Plays a morph curve (``--morph 0:0,8:1``, seconds:amount) into the parameters on its own thread.

    The curve's time 0 is when the automation starts. It writes the morph every
    ``interval`` seconds until the curve's end, or until a performer's control
    (MIDI CC, OSC) moves the morph: from then on the performer has the morph
    and the automation stops (``overridden``). A control that moves only the
    temperature leaves the automation running.

    Parameters
    ----------
    params : ParamStore
    curve : callable(seconds: float) -> float
        The morph amount at a time since the start (:func:`musicvae.automation.parse_morph`).
    end : float, keyword-only
        Seconds after which the curve is constant (its last point): the thread stops there.
    interval : float, keyword-only
        Seconds between writes (10 ms: finer than the synth's 16 cached morph steps need on
        any curve slower than a sweep a second).
    """

    def __init__(self, params: ParamStore, curve: Callable[[float], float], *, end: float,
                 interval: float = 0.01) -> None:
        self.params, self.curve, self.end, self.interval = params, curve, float(end), float(interval)
        self.overridden = False
        self.writes = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> MorphAutomation:
        self._version = self.params.version
        self._written = self.params.snapshot.morph
        self._write(0.0)
        self._thread = threading.Thread(target=self._run, args=(time.perf_counter(),), name="automation",
                                        daemon=True)
        self._thread.start()
        return self

    def _write(self, t: float) -> bool:
        """Write the curve at ``t`` unless a performer moved the morph since the last write; False once one did."""
        amount = self.curve(min(t, self.end))
        # Compare-and-set: a write from any other thread in between makes this one fail.
        while not self.params.update(morph=amount, expect_version=self._version):
            if self.params.snapshot.morph != self._written:
                self.overridden = True
                return False
            self._version = self.params.version  # only the temperature moved: carry on from there
        self._version += 1
        self._written = min(1.0, max(0.0, amount))  # as the store clamps it
        self.writes += 1
        return True

    def _run(self, started: float) -> None:
        while not self.overridden and not self._stop.wait(self.interval):
            t = time.perf_counter() - started
            if not self._write(t) or t >= self.end:
                return

    def close(self, timeout: float = WORKER_JOIN) -> None:
        self._stop.set()
        join(self._thread, timeout)
