"""Who may use the studio, and where its uploads go: the token beyond loopback, loopback host names, the POST
header, the size limit on a body without a length, and file names that try to leave the temporary folder."""

from __future__ import annotations

import http.client
import json
import urllib.error
import urllib.request

import pytest
from studio_helpers import StudioProcess

from musicvae.studio import uploads
from musicvae.studio.server import is_loopback


def _get(url: str, headers: dict | None = None) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}), timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


@pytest.fixture(scope="module")
def open_studio():
    server = StudioProcess("--host", "0.0.0.0")
    yield server
    assert server.stop() in (0, 130), "\n".join(server.lines)


def test_beyond_loopback_every_request_needs_the_printed_token(open_studio, browser):
    token = open_studio.url.split("token=")[1]
    # One character changed, never to itself: a fixed replacement letter matched a token ending in it (1 run in 64).
    wrong = token[:-1] + ("y" if token[-1] == "x" else "x")
    assert len(token) >= 24 and any("the token is required" in line for line in open_studio.lines)
    for path in ("/", "/api/studio", "/static/studio.js"):
        status, body = _get(open_studio.base + path)
        assert status == 403 and "token" in body
        assert _get(open_studio.base + path, {"X-Studio-Token": wrong})[0] == 403
        assert _get(open_studio.base + path, {"X-Studio-Token": token})[0] == 200
    # The page opened from the printed address works: its scripts and API calls carry the token's cookie.
    page = browser.new_page()
    try:
        page.goto(open_studio.url)
        page.wait_for_selector("body[data-ready='1']", timeout=30_000)
        assert page.locator("#instruments").text_content() == "melody-2bar · flute-guitar · bach-accompanist"
        page.goto(open_studio.base + "/other-page-without-token")
        assert "Not Found" in page.content()  # the cookie let it through to the router
        browser.clear_cookies()
        page.goto(open_studio.base + "/")
        assert "needs its token" in page.content()
    finally:
        page.close()

def test_loopback_studio_answers_only_loopback_names_and_its_own_posts(studio):
    assert _get(studio.base + "/api/studio")[0] == 200
    port = studio.base.rsplit(":", 1)[1]
    assert _get(studio.base + "/api/studio", {"Host": f"localhost:{port}"})[0] == 200
    status, body = _get(studio.base + "/api/studio", {"Host": f"attacker.example:{port}"})  # DNS rebinding
    assert status == 403 and "only to 127.0.0.1" in body
    form = urllib.request.Request(studio.base + "/api/sample", data=b"n=1", method="POST",
                                  headers={"Content-Type": "application/x-www-form-urlencoded"})
    with pytest.raises(urllib.error.HTTPError) as refused:  # a form posted from another site
        urllib.request.urlopen(form, timeout=10)
    assert refused.value.code == 403
    form.add_header("X-Studio", "1")
    with urllib.request.urlopen(form, timeout=10) as response:
        assert "job" in json.loads(response.read())


def test_a_body_without_a_length_is_cut_at_the_limit(studio):
    """Chunks past the limit are not read: the route answers 413 with the page's line once the limit is passed."""
    host, port = studio.base.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=20)
    connection.putrequest("POST", "/api/harmonize")
    for name, value in (("X-Studio", "1"), ("Transfer-Encoding", "chunked"),
                        ("Content-Type", "multipart/form-data; boundary=b")):
        connection.putheader(name, value)
    connection.endheaders()
    head = b'--b\r\nContent-Disposition: form-data; name="melody"; filename="long.mid"\r\n\r\n'
    chunk = b"x" * (1 << 16)
    for i in range(uploads.MAX_UPLOAD // len(chunk) + 1):  # a file part one chunk past the limit, and no end
        data = head + chunk if i == 0 else chunk
        connection.send(b"%x\r\n%s\r\n" % (len(data), data))
    response = connection.getresponse()
    assert response.status == 413
    assert json.loads(response.read())["error"].startswith("the upload is larger than the studio's limit of 8 MB")
    connection.close()


@pytest.mark.parametrize("given, kept", [("../../etc/passwd.mid", "passwd.mid"), ("/abs/x.mid", "x.mid"),
                                         ("C:\\Users\\me\\tune.mid", "tune.mid"), ("..", "upload"),
                                         ("a\x00b;rm -rf.mid", "ab_rm -rf.mid"), (".hidden.mid", "hidden.mid"),
                                         (None, "upload")])
def test_upload_names_stay_inside_the_folder(given, kept):
    assert uploads.safe_name(given) == kept


def test_uploaded_files_land_in_the_jobs_folder(studio, tmp_path):
    boundary = "studio-boundary"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"melody\"; filename=\"../../../escape.mid\"\r\n"
            f"Content-Type: audio/midi\r\n\r\nnot midi\r\n--{boundary}--\r\n").encode()
    headers = {"X-Studio": "1", "Content-Type": f"multipart/form-data; boundary={boundary}"}
    request = urllib.request.Request(studio.base + "/api/harmonize", data=body, method="POST", headers=headers)
    with urllib.request.urlopen(request, timeout=10) as response:
        job = json.loads(response.read())["job"]
    state = {"version": -1, "state": "queued"}
    while state["state"] not in ("done", "error"):  # the long poll answers at each step
        state = json.loads(_get(f"{studio.base}/api/jobs/{job}?after={state['version']}&wait=5")[1])
    assert state["state"] == "error" and state["error"].startswith("escape.mid: ")  # the name, no path
    assert _get(f"{studio.base}/api/files/{job}/melody/escape.mid")[0] == 200  # inside the job's folder
    assert _get(f"{studio.base}/api/files/{job}/../../../etc/passwd")[0] == 404
    assert _get(f"{studio.base}/api/files/{job}/%2e%2e/%2e%2e/%2e%2e/etc/passwd")[0] == 404


def test_loopback_addresses():
    assert is_loopback("127.0.0.1") and is_loopback("localhost") and is_loopback("::1") and is_loopback("127.5.0.1")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.4") and not is_loopback("studio.example")
