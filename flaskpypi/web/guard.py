"""Refuse, with a 4xx and before anything is written, what no handler can store or read.

- Text the database cannot hold (NUL, which PostgreSQL refuses in any text, and lone surrogates, which no
  driver can encode) in the path, the query, a header, a form field, a file name or a JSON body: 400.
- A request body that is malformed (a bad chunk size), ends early, or trickles in: 400 or 408, never a 5xx.
  The whole body must arrive within `body_timeout` seconds plus one second per `body_min_rate` bytes, so a
  client sending 1 byte/s holds a worker thread for `body_timeout` at most.
- When a response is sent before the body was read (a 401 to an anonymous upload), the connection is closed
  instead of being drained, so a slow body never holds a thread after its answer.
"""

from __future__ import annotations

import re
import socket
import threading
import time
from collections.abc import Iterable, Iterator
from typing import Any

from flask import Flask, Request, request
from werkzeug.datastructures import MultiDict
from werkzeug.exceptions import BadRequest, HTTPException, RequestTimeout

from .watchdog import watchdog

UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
LINGER = 1.0  # seconds to read what a refused client still sends, so our answer is not lost to a reset
LINGER_BYTES = 64 * 1024


def unstorable(value: object) -> bool:
    """Whether a string (or any string inside lists and dicts) holds a character no database stores."""
    if isinstance(value, str):
        return UNSTORABLE.search(value) is not None
    if isinstance(value, dict):
        return any(unstorable(k) or unstorable(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(unstorable(v) for v in value)
    return False


def refuse(where: str) -> BadRequest:
    """The one refusal for unstorable text."""
    return BadRequest(f"The {where} holds a NUL byte or an invalid character; nothing was stored.")


class GuardedRequest(Request):
    """Flask's request, whose form and JSON body are refused when they hold unstorable text."""

    def _load_form_data(self) -> None:
        super()._load_form_data()
        fields = self.__dict__.get("form")
        files = self.__dict__.get("files")
        bad = fields is not None and unstorable(list(fields.items(multi=True)))
        bad = bad or (files is not None and any(unstorable([k, f.filename or ""]) for k, f in files.items(multi=True)))
        if bad:
            self.__dict__["form"] = MultiDict()  # nobody reads the refused values later in this request
            self.__dict__["files"] = MultiDict()
            raise refuse("form")

    def get_json(self, force: bool = False, silent: bool = False, cache: bool = True) -> Any:
        data = super().get_json(force=force, silent=silent, cache=cache)
        if unstorable(data):
            raise refuse("JSON body")
        return data


def check_request_line() -> None:
    """before_request: the path, the query and the headers carry no unstorable text."""
    environ = request.environ
    if not environ.get("QUERY_STRING") and _plain(environ):
        return  # the usual case: ASCII without NUL can hold neither NUL nor a surrogate once decoded
    headers = request.headers
    if not (UNSTORABLE.search(request.path) or request.args or UNSTORABLE.search("\n".join(headers.values()))
            or any(UNSTORABLE.search(name) for name in headers.keys())):  # fmt: skip
        return  # the usual case, checked in a few searches
    if unstorable(request.path):
        raise refuse("URL path")
    if unstorable(list(request.args.items(multi=True))):
        raise refuse("query string")
    if unstorable(list(request.headers.items())):
        raise refuse("request header")


def _plain(environ: dict[str, Any]) -> bool:
    """Whether every text of the WSGI environ (the path, the header names and values...) is ASCII without NUL:
    one join and two C-level scans, where the full check decodes the path and walks the headers."""
    text = "".join([*environ, *(value for value in environ.values() if type(value) is str)])
    return text.isascii() and "\x00" not in text


class BodyGuard:
    """WSGI middleware around the app: a bounded, error-mapped request body (see the module docstring)."""

    def __init__(self, app: Any, timeout: float, min_rate: int) -> None:
        self.app = app
        self.timeout = timeout
        self.min_rate = max(1, min_rate)

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        if not _has_body(environ):
            return self.app(environ, start_response)
        sock = environ.get("gunicorn.socket")
        chunked = "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower()
        length = None if chunked else int(environ["CONTENT_LENGTH"])
        body = GuardedInput(environ["wsgi.input"], sock, self.timeout, self.min_rate, length)
        environ["wsgi.input"] = body
        try:
            result = self.app(environ, start_response)
        finally:
            body.stop()
        if body.finished or sock is None:
            return result
        return _CloseAfter(result, body.raw, sock)


def _has_body(environ: dict[str, Any]) -> bool:
    if "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower():
        return True
    length = environ.get("CONTENT_LENGTH") or ""
    return length.isdigit() and int(length) > 0


class GuardedInput:
    """wsgi.input that turns the server's body errors into 400/408 and enforces the body deadline."""

    def __init__(self, raw: Any, sock: socket.socket | None, timeout: float, min_rate: int,
                 length: int | None) -> None:  # fmt: skip
        self.raw = raw
        self.length = length
        self.sock = sock
        self.timeout = timeout
        self.min_rate = min_rate
        self.started = time.monotonic()
        self.received = 0
        self.finished = False
        self.expired = False
        self._lock = threading.Lock()
        self._deadline: Any = None
        if sock is not None:
            sock.settimeout(timeout)  # a client that sends nothing at all
            self._deadline = watchdog.arm(timeout, self._check)

    def _due(self) -> float:
        return self.started + self.timeout + self.received / self.min_rate

    def _check(self) -> float | None:
        """Watchdog action: past the deadline, the next socket read times out at once."""
        with self._lock:
            if self.finished or self._deadline is None:
                return None
            due = self._due()
            if time.monotonic() < due:
                return due
            self.expired = True
            try:
                self.sock.settimeout(0.001)  # type: ignore[union-attr]
            except OSError:
                pass
            return None

    def stop(self) -> None:
        """The app returned: no more deadline, and the socket blocks again for the response."""
        with self._lock:
            if self._deadline is not None:
                self._deadline.cancel()
                self._deadline = None
            if self.sock is not None:
                try:
                    self.sock.settimeout(None)
                except OSError:
                    pass

    def _call(self, method: str, *args: Any) -> Any:
        try:
            data = getattr(self.raw, method)(*args)
        except HTTPException:
            raise
        except TimeoutError:
            self._fail()
            raise RequestTimeout(
                f"The request body did not arrive in time (within {self.timeout:g} s plus 1 s per "
                f"{self.min_rate} bytes); nothing was stored."
            )
        except Exception as exc:  # the server's parser: a bad chunk, a body that ended early, a reset
            self._fail()
            if self.expired:
                raise RequestTimeout("The request body did not arrive in time; nothing was stored.")
            raise BadRequest(f"The request body is malformed or incomplete ({exc.__class__.__name__}); "
                             "nothing was stored.")  # fmt: skip
        size = len(data) if isinstance(data, bytes) else sum(len(line) for line in data)
        self.received += size
        asked = args[0] if args else None
        if (not size and asked != 0) or (self.length is not None and self.received >= self.length):
            self.finished = True
        return data

    def _fail(self) -> None:
        self.finished = True  # nothing more will be read; the server closes the connection
        if hasattr(self.raw, "failed"):
            self.raw.failed = True

    def read(self, size: int | None = None, /) -> bytes:
        if size is None or size < 0:
            return self._call("read")
        return self._call("read", size)

    def readline(self, size: int | None = None, /) -> bytes:
        return self._call("readline", size) if size is not None else self._call("readline")

    def readlines(self, hint: int | None = None, /) -> list[bytes]:
        return self._call("readlines", hint) if hint is not None else self._call("readlines")

    def __iter__(self) -> Iterator[bytes]:
        while line := self.readline():
            yield line


class _CloseAfter:
    """The response to a request whose body was not read: after it is sent, close instead of draining."""

    def __init__(self, result: Iterable[bytes], raw: Any, sock: socket.socket) -> None:
        self.result = result
        self.raw = raw
        self.sock = sock

    def __iter__(self) -> Iterator[bytes]:
        return iter(self.result)

    def close(self) -> None:
        if hasattr(self.result, "close"):
            self.result.close()
        if hasattr(self.raw, "failed"):
            self.raw.failed = True  # gunicorn: do not keep the connection alive (no drain of the body)
        try:  # a lingering close in this thread (RFC 9112 9.6): FIN, read briefly, then stop reading
            self.sock.shutdown(socket.SHUT_WR)
            deadline = time.monotonic() + LINGER
            drained = 0
            while drained < LINGER_BYTES and (left := deadline - time.monotonic()) > 0:
                self.sock.settimeout(left)
                data = self.sock.recv(4096)
                if not data:
                    break
                drained += len(data)
        except OSError:
            pass
        finally:
            try:
                self.sock.shutdown(socket.SHUT_RD)
                self.sock.settimeout(None)
            except OSError:
                pass


def install(app: Flask) -> None:
    """Use the guarded request class, check every request line, and wrap the app in the body guard."""
    settings = app.extensions["flaskpypi"].settings
    app.request_class = GuardedRequest
    app.before_request_funcs.setdefault(None, []).insert(0, check_request_line)
    app.wsgi_app = BodyGuard(app.wsgi_app, settings.body_timeout, settings.body_min_rate)  # type: ignore[method-assign]
