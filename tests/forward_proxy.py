"""A forward HTTP proxy on loopback, for tests of Shunter behind a corporate proxy.

It reaches every host it is asked for at 127.0.0.1 (same port), so a test can give GitHub
a name that does not resolve (``ghes.proxied.invalid``): a client that ignores the proxy
cannot get there at all, and :attr:`ForwardProxy.seen` lists what went through it.
Plain HTTP requests in absolute form (``GET http://host:port/path``) are passed on with
``Connection: close``, one per connection; ``CONNECT`` is tunnelled.
"""

from __future__ import annotations

import contextlib
import socket
import socketserver
import subprocess
import threading
from pathlib import Path
from urllib.parse import urlsplit

_HOP_BY_HOP = (b"connection:", b"proxy-connection:", b"keep-alive:", b"proxy-authorization:")


def _pipe(source: socket.socket, sink: socket.socket) -> None:
    try:
        while chunk := source.recv(65536):
            sink.sendall(chunk)
    except OSError:
        pass
    finally:
        for end in (sink, source):
            with contextlib.suppress(OSError):
                end.shutdown(socket.SHUT_RDWR)


def _read_head(conn: socket.socket) -> tuple[bytes, bytes]:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            break
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    return head, rest


class _Handler(socketserver.BaseRequestHandler):
    server: _Server

    def handle(self) -> None:
        head, rest = _read_head(self.request)
        if not head:
            return
        request_line, *headers = head.split(b"\r\n")
        method, target, version = request_line.decode("latin-1").split(" ", 2)
        if method == "CONNECT":
            port = int(target.rpartition(":")[2])
            self.server.seen.append(f"CONNECT {target}")
            upstream = socket.create_connection(("127.0.0.1", port))
            self.request.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
            if rest:
                upstream.sendall(rest)
        else:
            url = urlsplit(target)
            if not url.scheme or url.port is None:
                self.request.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
                return
            self.server.seen.append(f"{method} {target}")
            path = url.path + (f"?{url.query}" if url.query else "")
            kept = [h for h in headers if not h.lower().startswith(_HOP_BY_HOP)]
            rewritten = b"\r\n".join(
                [f"{method} {path} {version}".encode("latin-1"), *kept, b"Connection: close"]
            )
            upstream = socket.create_connection(("127.0.0.1", url.port))
            upstream.sendall(rewritten + b"\r\n\r\n" + rest)
        back = threading.Thread(target=_pipe, args=(upstream, self.request), daemon=True)
        back.start()
        _pipe(self.request, upstream)
        back.join(30)


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.seen: list[str] = []


class ForwardProxy:
    """``with ForwardProxy() as proxy:`` serves on ``proxy.url`` until the block ends."""

    def __init__(self) -> None:
        self._server = _Server()
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def seen(self) -> list[str]:
        return list(self._server.seen)

    def __enter__(self) -> ForwardProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


def self_signed_certificate(directory: Path, host: str) -> tuple[Path, Path]:
    """A certificate for ``host`` and its key (PEM files in ``directory``), for a TLS server
    the clients under test are told to trust."""
    cert, key = directory / f"{host}.pem", directory / f"{host}.key"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-keyout", str(key), "-out", str(cert), "-subj", f"/CN={host}",
         "-addext", f"subjectAltName=DNS:{host}"],
        check=True, capture_output=True,
    )
    return cert, key
