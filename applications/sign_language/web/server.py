"""The local HTTP server of the web page.

Answers GET and HEAD only, and only for the URL paths of the table that
`assets.asset_table` builds when the server starts (the page, the two
browser runtimes, the run's model files, `/run.json`). The request path is
compared as sent, never decoded or joined to a folder: `/../x`, `/%2e%2e/x`,
`//etc/passwd` or a folder path get 404 like any other unknown path; there
is no directory listing. Other methods get 405. Bound to 127.0.0.1 unless a
host is given.
"""

import errno
import http.server
import socket
import threading

from applications.common.errors import UsageError
from applications.sign_language.web import assets

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765
#: Sent with every answer: nothing is cached between runs, nothing is
#: sniffed, and the page may load scripts, WebAssembly and data only from
#: this server (blob: and mediastream: for the camera and dropped files).
SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; "
        "style-src 'self'; img-src 'self' blob: data:; "
        "media-src 'self' blob: mediastream:; connect-src 'self'; "
        "worker-src 'self' blob:; object-src 'none'; base-uri 'none'; "
        "frame-ancestors 'none'"
    ),
}


def _request_path(target):
    """The path part of a request target, as sent (query and fragment dropped)."""
    return target.split("?", 1)[0].split("#", 1)[0]


class Handler(http.server.BaseHTTPRequestHandler):
    """Answers from `self.server.table` only (see the module docstring)."""

    server_version = "sign-language-web"
    sys_version = ""

    def _answer(self, send_body):
        entry = self.server.table.get(_request_path(self.path))
        if entry is None:
            self.send_error(404, "Not Found")
            return
        kind, value = entry
        try:
            body = value.read_bytes() if kind == "file" else value
        except OSError:
            self.send_error(404, "Not Found")
            return
        self.send_response(200)
        self.send_header("Content-Type", assets.content_type(_request_path(self.path)))
        self.send_header("Content-Length", str(len(body)))
        for name, text in SECURITY_HEADERS.items():
            self.send_header(name, text)
        self.end_headers()
        if send_body:
            self.wfile.write(body)

    def do_GET(self):  # noqa: N802 - http.server's naming
        self._answer(send_body=True)

    def do_HEAD(self):  # noqa: N802
        self._answer(send_body=False)

    def _not_allowed(self):
        self.send_response(405)
        self.send_header("Allow", "GET, HEAD")
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_TRACE = do_CONNECT = (
        _not_allowed
    )

    def log_message(self, format, *args):  # noqa: A002 - http.server's signature
        if self.server.verbose:
            super().log_message(format, *args)


class Server(http.server.ThreadingHTTPServer):
    """`ThreadingHTTPServer` holding the asset table.

    Args:
        run_dir: the trained run whose models are served.
        host: address to bind (default 127.0.0.1: this machine only).
        port: TCP port (0: any free port).
        verbose: log every request on stderr.

    Raises:
        UsageError: the port is taken or the address cannot be bound, the
            runtimes are not installed, or the run has no exported model.
    """

    daemon_threads = True
    allow_reuse_address = False

    def __init__(self, run_dir, host=DEFAULT_HOST, port=DEFAULT_PORT, verbose=False):
        self.table = assets.asset_table(run_dir)
        self.verbose = verbose
        if ":" in host:
            self.address_family = socket.AF_INET6
        try:
            super().__init__((host, port), Handler)
        except OSError as error:
            if error.errno == errno.EADDRINUSE:
                raise UsageError(
                    f"port {port} on {host} is already in use",
                    hint="choose another with --port N (--port 0 picks a free one), "
                    "or stop the program that holds it",
                ) from None
            raise UsageError(
                f"cannot listen on {host}:{port} ({error.strerror or error})",
                hint="check --host (an address of this machine) and --port",
            ) from None

    @property
    def url(self):
        """The page's address."""
        host, port = self.server_address[:2]
        if host in ("0.0.0.0", "::"):
            host = "127.0.0.1"
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{port}/"

    def start(self):
        """Serves in a daemon thread; returns self (for tests and the selftest)."""
        thread = threading.Thread(
            target=self.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        thread.start()
        return self

    def stop(self):
        """Stops serving and closes the socket."""
        self.shutdown()
        self.server_close()
