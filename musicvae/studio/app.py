"""The studio's web app (Starlette): the page, its static files, and a small JSON API over the library.

Routes
------
``GET /``                              the page (``static/index.html``)
``GET /api/studio``                    instruments, families, ranges and limits the controls need
``POST /api/morph|sample|blend|harmonize``  start a job (multipart form: files and fields) -> ``{"job": id}``
``GET /api/jobs/{id}?after=V``         the job once its version passes V (a long poll): progress, then result
``GET /api/files/{id}/{path}``         one of a job's files (MIDI, MusicXML, WAV)
``GET /api/ports``                     the MIDI ports of this machine
``GET|POST /api/sessions...``          start, morph and stop live and synth sessions

Form fields are checked by the command line's own option types (:mod:`musicvae.options`), so a
bad value gets the words the parser would print; a bad file gets the library's one line.

Security: bound to loopback, a request must name a loopback host (a page elsewhere cannot reach the
studio by rebinding a DNS name to 127.0.0.1); bound beyond it, every request must carry the token
(``?token=`` once, then a cookie, or the ``X-Studio-Token`` header). Every POST must carry the
``X-Studio`` header, which a form on another site cannot send without the studio's consent.
"""

from __future__ import annotations

import argparse
import contextlib
import secrets
from pathlib import Path
from urllib.parse import parse_qs

from musicvae.errors import InputError, MusicVAEError
from musicvae.studio import uploads
from musicvae.studio import work as jobs_work
from musicvae.studio.work import Studio

STATIC = Path(__file__).resolve().parent / "static"
MIDI_FILES = (".mid", ".midi")
MELODY_FILES = (".mid", ".midi", ".musicxml", ".xml", ".mxl")
NOTE_FILES = (".wav", ".flac", ".ogg", ".aif", ".aiff")
TOKEN_COOKIE = "musicvae_studio_token"
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1")


# ---------------------------------------------------------------------------
# Access: loopback hosts, the token, the POST header
# ---------------------------------------------------------------------------


def _host_name(host: str) -> str:
    if host.startswith("["):
        return host[1:host.find("]")] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


class Access:
    """ASGI middleware: the checks every request passes (see the module docstring)."""

    def __init__(self, app, *, token: str | None, loopback: bool) -> None:
        self.app, self.token, self.loopback = app, token, loopback

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        from starlette.responses import PlainTextResponse

        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers") or []}
        if self.loopback and _host_name(headers.get("host", "")).lower() not in LOOPBACK_NAMES:
            response = PlainTextResponse("the studio answers only to 127.0.0.1 and localhost", status_code=403)
            return await response(scope, receive, send)
        from_query = False
        if self.token is not None:
            query = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("token", [""])[0]
            cookies = {}
            for part in headers.get("cookie", "").split(";"):
                name, _, value = part.strip().partition("=")
                cookies[name] = value
            given = [query, headers.get("x-studio-token", ""), cookies.get(TOKEN_COOKIE, "")]
            if not any(value and secrets.compare_digest(value, self.token) for value in given):
                response = PlainTextResponse("this studio needs its token: open the address it printed "
                                             "(…/?token=…)", status_code=403)
                return await response(scope, receive, send)
            from_query = bool(query) and secrets.compare_digest(query, self.token)
        if scope["method"] == "POST" and headers.get("x-studio") != "1":
            response = PlainTextResponse("POST requests come from the studio's page (X-Studio header)",
                                         status_code=403)
            return await response(scope, receive, send)
        if not from_query:
            return await self.app(scope, receive, send)

        async def with_cookie(message):  # the page's own requests (scripts, audio) then carry the token
            if message["type"] == "http.response.start":
                cookie = f"{TOKEN_COOKIE}={self.token}; Path=/; HttpOnly; SameSite=Strict"
                message["headers"] = [*message.get("headers", []), (b"set-cookie", cookie.encode("latin-1"))]
            await send(message)

        return await self.app(scope, receive, with_cookie)


# ---------------------------------------------------------------------------
# Form fields, checked as the command line checks its options
# ---------------------------------------------------------------------------


def field(form, name: str, kind, default=None, *, what: str | None = None):
    """Form field ``name`` parsed by an option type of :mod:`musicvae.options` (``default`` when absent or empty)."""
    raw = form.get(name)
    if raw is None or (isinstance(raw, str) and raw.strip() == ""):  # a field left empty: the default
        return default
    if not isinstance(raw, str):
        raise InputError(f"{what or name}: expected a value, got a file")
    try:
        return kind(raw)
    except argparse.ArgumentTypeError as error:
        raise InputError(f"{what or name}: {error}") from None


def _error(message: str, status: int = 400):
    from starlette.responses import JSONResponse

    return JSONResponse({"error": message}, status_code=status)


@contextlib.asynccontextmanager
async def _form(request):
    from starlette.formparsers import MultiPartException

    try:
        async with request.form(max_files=uploads.MAX_FILES, max_fields=32) as form:
            yield form
    except MultiPartException as error:
        raise InputError(f"the upload could not be read ({error})") from None


@contextlib.asynccontextmanager
async def _new_job(runner, kind: str):
    """A job for a request's uploads; discarded, folder and all, when the request is refused before it runs."""
    job = runner.new(kind)
    try:
        yield job
    except BaseException:
        runner.discard(job)
        raise


def _api(handler):
    """A route whose MusicVAEError (a bad field, file or upload) is the page's one line, status 400."""
    async def route(request):
        try:
            return await handler(request)
        except uploads.UploadTooLarge as error:
            return _error(str(error), 413)
        except MusicVAEError as error:
            return _error(str(error))
    return route


# ---------------------------------------------------------------------------
# The app
# ---------------------------------------------------------------------------


def create_app(studio: Studio, *, token: str | None = None, loopback: bool = True,
               upload_limit: int = uploads.MAX_UPLOAD):
    """The ASGI app of ``studio``: the page, the API, and the access checks around them.

    Parameters
    ----------
    studio : Studio
        Its instruments, job runner and sessions (closed when the app shuts down).
    token : str, optional, keyword-only
        Required on every request when given (the studio bound beyond loopback).
    loopback : bool, keyword-only
        Bound to a loopback address: only loopback host names are answered.
    upload_limit : int, keyword-only
        Largest request body in bytes.
    """
    from starlette.applications import Starlette
    from starlette.concurrency import run_in_threadpool
    from starlette.responses import FileResponse, JSONResponse
    from starlette.routing import Mount, Route
    from starlette.staticfiles import StaticFiles

    from musicvae import options as opt

    runner = studio.runner

    def started(job):
        return JSONResponse({"job": job.id})

    async def index(_request):
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-store"})

    async def describe(_request):
        return JSONResponse(studio.describe())

    async def morph(request):
        async with _form(request) as form:
            steps = field(form, "steps", opt.integer(2, opt.MAX_STEPS), 5)
            temperature = field(form, "temperature", opt.TEMPERATURE, 0.0)
            seed = field(form, "seed", opt.SEED, None)
            async with _new_job(runner, "morph") as job:
                a, name_a = await uploads.save_upload(form.get("a"), job.folder, role="a", allowed=MIDI_FILES,
                                                      what="melody A")
                b, name_b = await uploads.save_upload(form.get("b"), job.folder, role="b", allowed=MIDI_FILES,
                                                      what="melody B")
        job.names.update({str(a): name_a, str(b): name_b})
        return started(runner.submit(job, lambda j: jobs_work.morph(studio, j, a, b, steps=steps,
                                                                    temperature=temperature, seed=seed)))

    async def sample(request):
        async with _form(request) as form:
            n = field(form, "n", opt.integer(1, 32), 4, what="samples")
            temperature = field(form, "temperature", opt.TEMPERATURE, 0.5)
            seed = field(form, "seed", opt.SEED, None)
        job = runner.new("sample")
        return started(runner.submit(job, lambda j: jobs_work.sample(studio, j, n=n, temperature=temperature,
                                                                     seed=seed)))

    async def blend(request):
        from musicvae import blend as timbre

        families = timbre.families(studio.timbre)
        async with _form(request) as form:
            low, high = studio.timbre.model.pitch_range
            pitch = field(form, "pitch", opt.integer(low, high), None)
            ends = {}
            async with _new_job(runner, "blend") as job:
                for end, default in (("source", families[0] if families else ""),
                                     ("target", families[-1] if families else "")):
                    upload = form.get(f"{end}_file")
                    if upload is not None and not isinstance(upload, str) and upload.filename:
                        path, name = await uploads.save_upload(upload, job.folder, role=end, allowed=NOTE_FILES,
                                                               what="a note")
                        job.names[str(path)] = name
                        ends[end] = path
                    else:
                        ends[end] = field(form, end, opt.Text("a family"), default)
        return started(runner.submit(job, lambda j: jobs_work.blend(studio, j, source=ends["source"],
                                                                    target=ends["target"], pitch=pitch)))

    async def harmonize(request):
        async with _form(request) as form:
            variation = field(form, "variation", opt.integer(1, opt.MAX_VARIATIONS), 1)
            seed = field(form, "seed", opt.SEED, 0)
            async with _new_job(runner, "harmonize") as job:
                melody, name = await uploads.save_upload(form.get("melody"), job.folder, role="melody",
                                                         allowed=MELODY_FILES, what="the melody")
        job.names[str(melody)] = name
        return started(runner.submit(job, lambda j: jobs_work.harmonize(studio, j, melody, name=name,
                                                                        variation=variation, seed=seed)))

    async def job_state(request):
        job = runner.get(request.path_params["job"])
        if job is None:
            return _error("no such job (the studio keeps the latest 200)", 404)
        after = field(request.query_params, "after", opt.integer(-1, 10**9), -1)
        timeout = field(request.query_params, "wait", opt.number(0, 10), 0.0)
        if job.version <= after and timeout > 0:
            await run_in_threadpool(job.wait, after, timeout)
        return JSONResponse(job.describe())

    async def job_file(request):
        job = runner.get(request.path_params["job"])
        if job is None:
            return _error("no such job", 404)
        path = (job.folder / request.path_params["path"]).resolve()
        if not path.is_relative_to(job.folder.resolve()) or not path.is_file():
            return _error("no such file", 404)
        return FileResponse(path, filename=path.name, content_disposition_type="inline")

    async def ports(request):
        from musicvae.realtime.midi_io import list_ports

        api = request.query_params.get("api") or None
        inputs, outputs = await run_in_threadpool(list_ports, api=api)
        return JSONResponse({"inputs": inputs, "outputs": outputs})

    async def sessions(_request):
        return JSONResponse({"sessions": studio.sessions.list()})

    async def start_live(request):
        from musicvae.realtime.midi_io import API_NAMES

        async with _form(request) as form:
            bpm = field(form, "bpm", opt.BPM, 120.0)
            temperature = field(form, "temperature", opt.TEMPERATURE, 0.0)
            morph_amount = field(form, "morph", opt.number(0, 1), 0.0)
            midi_out = field(form, "midi_out", opt.Text("a port name"), "musicvae")
            midi_api = field(form, "midi_api", _choice(API_NAMES), None)
            async with _new_job(runner, "live") as job:  # a folder for its uploads, kept while it plays
                a, name_a = await uploads.save_upload(form.get("a"), job.folder, role="a", allowed=MIDI_FILES,
                                                      what="melody A")
                b, name_b = await uploads.save_upload(form.get("b"), job.folder, role="b", allowed=MIDI_FILES,
                                                      what="melody B")
        names = {str(a): name_a, str(b): name_b}
        job.names.update(names)
        try:
            session = await run_in_threadpool(
                lambda: studio.sessions.start_live(a, b, names=names, midi_out=midi_out, midi_api=midi_api, bpm=bpm,
                                                   temperature=temperature, morph=morph_amount))
        except MusicVAEError as error:
            raise InputError(job.message(error)) from None
        return JSONResponse(session.describe())

    async def start_synth(request):
        from musicvae.realtime.midi_io import API_NAMES

        async with _form(request) as form:
            midi_in = field(form, "midi_in", opt.Text("a port name"), "virtual:musicvae-studio")
            audio_out = field(form, "audio_out", opt.Text("a device name"), "default")
            audio_api = field(form, "audio_api", opt.Text("an audio system"), None)
            midi_api = field(form, "midi_api", _choice(API_NAMES), None)
            morph_amount = field(form, "morph", opt.number(0, 1), 0.5)
            voices = field(form, "voices", opt.integer(1, opt.MAX_VOICES), 8)
        session = await run_in_threadpool(
            lambda: studio.sessions.start_synth(midi_in=midi_in, audio_out=audio_out, audio_api=audio_api,
                                                midi_api=midi_api, morph=morph_amount, voices=voices))
        return JSONResponse(session.describe())

    async def session_morph(request):
        session = studio.sessions.get(request.path_params["session"])
        async with _form(request) as form:
            amount = field(form, "morph", opt.number(0, 1), None)
        if amount is None:
            raise InputError("morph: give an amount 0..1")
        session.send_morph(amount)
        return JSONResponse(session.describe())

    async def session_stop(request):
        session = await run_in_threadpool(studio.sessions.stop, request.path_params["session"])
        return JSONResponse(session.describe())

    @contextlib.asynccontextmanager
    async def lifespan(_app):
        try:
            yield
        finally:
            await run_in_threadpool(studio.close)

    routes = [
        Route("/", index),
        Route("/api/studio", describe),
        Route("/api/morph", _api(morph), methods=["POST"]),
        Route("/api/sample", _api(sample), methods=["POST"]),
        Route("/api/blend", _api(blend), methods=["POST"]),
        Route("/api/harmonize", _api(harmonize), methods=["POST"]),
        Route("/api/jobs/{job}", _api(job_state)),
        Route("/api/files/{job}/{path:path}", job_file),
        Route("/api/ports", _api(ports)),
        Route("/api/sessions", sessions),
        Route("/api/sessions/live", _api(start_live), methods=["POST"]),
        Route("/api/sessions/synth", _api(start_synth), methods=["POST"]),
        Route("/api/sessions/{session}/morph", _api(session_morph), methods=["POST"]),
        Route("/api/sessions/{session}/stop", _api(session_stop), methods=["POST"]),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    app = Starlette(routes=routes, lifespan=lifespan)
    return Access(uploads.BodyLimit(app, limit=upload_limit), token=token, loopback=loopback)


def _choice(choices):
    """An option type accepting one of ``choices`` (argparse's ``choices=``, as a type)."""
    names = tuple(choices)

    def parse(text: str) -> str:
        if text not in names:
            raise argparse.ArgumentTypeError(f"expected one of {', '.join(names)}, got {text!r}")
        return text

    return parse
