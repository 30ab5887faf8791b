"""The web server answers GET/HEAD for its fixed table only.

A fake run (config.json, a minimal TFLite flatbuffer, a model.onnx) and fake
runtime files stand in for the trained run and `npm ci`, so these tests need
neither; a secret file lies beside the run and in the run folder. Every
request is sent raw (http.client), so no client normalises `..` or `%2e%2e`
before the server sees it.
"""

import http.client
import json
import os
import socket
import struct

import pytest

from applications.common.errors import UsageError
from applications.sign_language import __main__ as app
from applications.sign_language.web import assets
from applications.sign_language.web import server as server_lib
from tests.applications import cli_checks

pytestmark = pytest.mark.backend_independent
SECRET = b"secret-must-not-be-served"


def minimal_tflite():
    """A valid TFLite flatbuffer with an empty Model table (no subgraphs)."""
    vtable = struct.pack("<HH", 4, 4)  # vtable of 4 bytes, table of 4 bytes
    return struct.pack("<I", 12) + b"TFL3" + vtable + struct.pack("<i", 4)


@pytest.fixture
def fake_runtimes(tmp_path, monkeypatch):
    """`node_modules/` with a stand-in for each runtime file."""
    root = tmp_path / "node_modules"
    for url, rel in assets.RUNTIME_FILES.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        text = f"// {url}\n"
        if url.endswith("core.js"):
            text += 'import { x } from "@litertjs/wasm-utils";\n'
        path.write_text(text)
    monkeypatch.setattr(assets, "NODE_MODULES", root)
    return root


@pytest.fixture
def run_dir(tmp_path, fake_runtimes):
    run = tmp_path / "runs" / "run"
    run.mkdir(parents=True)
    (run / "config.json").write_text(
        json.dumps({"image_size": 16, "color_mode": "rgb"})
    )
    (run / "model.tflite").write_bytes(minimal_tflite())
    (run / "model.onnx").write_bytes(b"onnx-bytes")
    (run / "best.weights.h5").write_bytes(SECRET)  # in the run, not servable
    (tmp_path / "runs" / "secret.txt").write_bytes(SECRET)  # beside the run
    return run


@pytest.fixture
def server(run_dir):
    srv = server_lib.Server(run_dir, port=0).start()
    yield srv
    srv.stop()


def request(srv, method, target, raw=False):
    """(status, headers, body) of one raw request."""
    host, port = srv.server_address[:2]
    if raw:
        with socket.create_connection((host, port), timeout=10) as sock:
            sock.sendall(f"{method} {target} HTTP/1.0\r\n\r\n".encode())
            data = b""
            while chunk := sock.recv(65536):
                data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        return int(head.split()[1]), {}, body
    connection = http.client.HTTPConnection(host, port, timeout=10)
    connection.putrequest(method, target, skip_host=True, skip_accept_encoding=True)
    connection.putheader("Host", f"{host}:{port}")
    connection.endheaders()
    response = connection.getresponse()
    body = response.read()
    connection.close()
    return response.status, dict(response.getheaders()), body


def test_serves_the_page_runtimes_models_and_run_info(server):
    status, headers, body = request(server, "GET", "/")
    assert status == 200
    assert headers["Content-Type"].startswith("text/html")
    assert b'<input id="files"' in body
    assert "script-src 'self'" in headers["Content-Security-Policy"]
    assert headers["X-Content-Type-Options"] == "nosniff"
    status, headers, body = request(server, "GET", "/run.json")
    info = json.loads(body)
    assert status == 200 and info["image_size"] == 16
    assert [m["file"] for m in info["models"]] == ["model.tflite", "model.onnx"]
    status, headers, body = request(server, "GET", "/models/model.onnx")
    assert (status, body) == (200, b"onnx-bytes")
    status, headers, body = request(
        server, "GET", "/vendor/ort/ort-wasm-simd-threaded.wasm"
    )
    assert status == 200 and headers["Content-Type"] == "application/wasm"
    # LiteRT.js's bare import is pointed at the served helper.
    _, _, core = request(server, "GET", "/vendor/litertjs/core.js")
    assert b'from "./wasm-utils.js"' in core and b"@litertjs/wasm-utils" not in core


def test_query_strings_are_ignored(server):
    assert request(server, "GET", "/?runtime=onnx")[0] == 200


def test_head_sends_headers_without_a_body(server):
    status, headers, body = request(server, "HEAD", "/app.js")
    assert status == 200 and body == b""
    assert int(headers["Content-Length"]) == (assets.STATIC / "app.js").stat().st_size


@pytest.mark.parametrize(
    "method", ["POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE"]
)
def test_other_methods_are_refused(server, method):
    status, headers, body = request(server, method, "/")
    assert status == 405
    assert headers["Allow"] == "GET, HEAD"


@pytest.mark.parametrize(
    "target",
    [
        "/../secret.txt",
        "/../runs/secret.txt",
        "/models/../secret.txt",
        "/models/../../secret.txt",
        "/%2e%2e/secret.txt",
        "/%2E%2E/%2e%2e/secret.txt",
        "/models/%2e%2e/secret.txt",
        "/models/..%2fsecret.txt",
        "/models/%2e%2e%2fbest.weights.h5",
        "/models/best.weights.h5",
        "/models/config.json",
        "/models/./model.onnx",
        "/vendor/ort/../../../../../../etc/passwd",
        "/etc/passwd",
        "//etc/passwd",
        "/%2fetc%2fpasswd",
        "/app.js/..",
        "/index.html%00",
        "/static/app.js",
        "/node_modules/onnxruntime-web/package.json",
    ],
)
def test_paths_outside_the_table_are_not_found(server, target, run_dir):
    status, _, body = request(server, "GET", target)
    assert status == 404
    assert SECRET not in body


@pytest.mark.parametrize("target", ["http://127.0.0.1/etc/passwd", "/tmp", "*"])
def test_absolute_targets_are_not_found(server, target):
    status, _, body = request(server, "GET", target, raw=True)
    assert status in (400, 404)
    assert SECRET not in body and b"root:" not in body


@pytest.mark.parametrize("folder", ["/", "/vendor/", "/vendor/ort/", "/models/"])
def test_no_directory_listing(server, folder):
    status, _, body = request(server, "GET", folder)
    if folder == "/":
        assert b"<!doctype html>" in body  # the page, not a listing
    else:
        assert status == 404
    assert b"Directory listing" not in body and b"node_modules" not in body


def test_a_symlinked_model_is_not_served(run_dir, tmp_path):
    """A model file that is a symbolic link (here to the secret) is left out."""
    (run_dir / "model.onnx").unlink()
    os.symlink(tmp_path / "runs" / "secret.txt", run_dir / "model.onnx")
    srv = server_lib.Server(run_dir, port=0).start()
    try:
        info = json.loads(request(srv, "GET", "/run.json")[2])
        assert "model.onnx" not in [m["file"] for m in info["models"]]
        status, _, body = request(srv, "GET", "/models/model.onnx")
        assert status == 404 and SECRET not in body
    finally:
        srv.stop()


def test_a_run_without_an_exported_model_is_refused(run_dir):
    (run_dir / "model.tflite").unlink()
    with pytest.raises(UsageError, match="no exported model"):
        server_lib.Server(run_dir, port=0)


def test_missing_runtimes_say_to_run_install_sh(run_dir, fake_runtimes):
    (fake_runtimes / assets.RUNTIME_FILES["/vendor/ort/ort.wasm.min.mjs"]).unlink()
    with pytest.raises(UsageError) as caught:
        server_lib.Server(run_dir, port=0)
    assert "install.sh" in caught.value.hint


def test_binds_localhost_by_default(server):
    assert server_lib.DEFAULT_HOST == "127.0.0.1"
    assert server.server_address[0] == "127.0.0.1"
    assert server.url.startswith("http://127.0.0.1:")


def test_a_taken_port_is_one_clear_line(run_dir, capsys):
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen(1)
        port = holder.getsockname()[1]
        code, out, err = cli_checks.run(
            app.main, capsys, ["web", "--run-dir", str(run_dir), "--port", str(port)]
        )
    assert code == 2
    assert err == [
        f"error: port {port} on 127.0.0.1 is already in use",
        "hint: choose another with --port N (--port 0 picks a free one), "
        "or stop the program that holds it",
    ]
