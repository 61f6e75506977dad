"""Uploads: a size limit on every request body, and files saved only inside a job's temporary folder.

The limit is enforced twice: a declared ``Content-Length`` over it is refused
before anything is read, and :class:`BodyLimit` counts the bytes of a body sent
without one (or lying about it) and stops reading at the limit. An uploaded file
keeps only its base name, reduced to safe characters, inside the job's folder:
no name a browser sends (``../../etc/passwd``, an absolute path, a NUL) can place
it anywhere else. Its suffix is kept, since the library tells a MusicXML melody
from a MIDI one, and a note file from a family name, by it.
"""

from __future__ import annotations

import re
from pathlib import Path

from musicvae.errors import InputError

#: Largest request body (all its files together), in bytes: a 2-bar MIDI file is under 1 kB, a 4-s
#: 48 kHz stereo WAV note 1.5 MB.
MAX_UPLOAD = 8 * 1024 * 1024
#: Files one request may carry.
MAX_FILES = 4
_UNSAFE = re.compile(r"[^A-Za-z0-9._ -]+")


class UploadTooLarge(InputError):
    """A request body over the limit."""


def too_large(limit: int) -> UploadTooLarge:
    return UploadTooLarge(f"the upload is larger than the studio's limit of {limit / 2**20:g} MB: "
                          "drop a shorter file")


class BodyLimit:
    """ASGI middleware: a request body over ``limit`` bytes is never read past the limit.

    A declared ``Content-Length`` over it gets 413 at once; a body that grows past it while the app reads
    raises :class:`UploadTooLarge` out of ``receive`` (the route turns it into the page's one line).
    """

    def __init__(self, app, *, limit: int = MAX_UPLOAD) -> None:
        self.app, self.limit = app, int(limit)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            from starlette.responses import JSONResponse

            return await JSONResponse({"error": str(too_large(self.limit))}, status_code=413)(scope, receive, send)
        seen = 0

        async def counted():
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise too_large(self.limit)
            return message

        return await self.app(scope, counted, send)


def safe_name(filename: str | None, *, default: str = "upload") -> str:
    """The base name of a browser's ``filename`` in safe characters (suffix kept), never empty or hidden."""
    base = re.split(r"[\\/]", str(filename or ""))[-1].replace("\x00", "")
    name = _UNSAFE.sub("_", base).strip(" .")[:120]
    return name or default


async def save_upload(upload, folder: Path, *, role: str, allowed: tuple[str, ...], what: str) -> tuple[Path, str]:
    """Save one uploaded file into ``folder/role/`` and return (its path, the name the user gave it).

    Parameters
    ----------
    upload : starlette.datastructures.UploadFile or str
        The form field (a string where no file was chosen).
    folder : Path
        The job's temporary folder.
    role : str
        Which input it is ("a", "b", "melody"): its subfolder, so that two files of one name do not collide.
    allowed : tuple of str
        Suffixes the input takes (".mid", ".midi"...).
    what : str
        The input's name in messages ("melody A").

    Raises
    ------
    InputError
        No file, or a suffix the input does not take.
    """
    if upload is None or isinstance(upload, str) or not getattr(upload, "filename", None):
        raise InputError(f"{what}: drop a file ({' or '.join(allowed)})")
    name = safe_name(upload.filename)
    if Path(name).suffix.lower() not in allowed:
        raise InputError(f"{name}: {what} must be a {' or '.join(allowed)} file")
    target = folder / role
    target.mkdir(parents=True, exist_ok=True)
    path = target / name
    with path.open("wb") as out:
        while chunk := await upload.read(1 << 16):
            out.write(chunk)
    return path, name
