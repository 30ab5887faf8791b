"""What the web server may send: one fixed table of URL path -> file.

Nothing the client sends is ever joined to a folder: a request is answered
only when its path is a key of the table that `asset_table` builds at start,
so `..`, encoded dots, absolute paths and symbolic links cannot reach any
other file. The table holds:

- the page's own files (`static/`, beside this module);
- the browser runtimes, copied by `npm ci` into `node_modules/` beside this
  module (install.sh): LiteRT.js (`@litertjs/core`) and ONNX Runtime Web
  (`onnxruntime-web`), only the few script and WebAssembly files the page
  loads;
- the run's model files (`MODEL_FILES`) that exist, as regular files (a
  symbolic link in the run folder is refused), read when the server starts;
  .tflite files with their batch dimension fixed at 1 (`static_batch`);
- `/run.json`, built here: the model's input size, colour mode, class names
  and which model files each runtime can load.
"""

import json
import pathlib

from applications.common.errors import UsageError
from applications.sign_language.web.static_batch import static_batch

HERE = pathlib.Path(__file__).resolve().parent
STATIC = HERE / "static"
NODE_MODULES = HERE / "node_modules"

#: URL path -> file under `static/`.
PAGE_FILES = {
    "/": "index.html",
    "/index.html": "index.html",
    "/app.js": "app.js",
    "/preprocess.js": "preprocess.js",
    "/runtimes.js": "runtimes.js",
    "/style.css": "style.css",
}
#: URL path -> file under `node_modules/` (npm packages pinned by
#: package-lock.json). LiteRT.js loads the plain (non-threaded, non-JSPI)
#: WebAssembly build; ONNX Runtime Web its SIMD build, one thread.
RUNTIME_FILES = {
    "/vendor/litertjs/core.js": "@litertjs/core/dist/index.js",
    "/vendor/litertjs/wasm-utils.js": "@litertjs/wasm-utils/dist/index.js",
    "/vendor/litertjs/wasm/litert_wasm_internal.js": (
        "@litertjs/core/wasm/litert_wasm_internal.js"
    ),
    "/vendor/litertjs/wasm/litert_wasm_internal.wasm": (
        "@litertjs/core/wasm/litert_wasm_internal.wasm"
    ),
    "/vendor/litertjs/wasm/litert_wasm_compat_internal.js": (
        "@litertjs/core/wasm/litert_wasm_compat_internal.js"
    ),
    "/vendor/litertjs/wasm/litert_wasm_compat_internal.wasm": (
        "@litertjs/core/wasm/litert_wasm_compat_internal.wasm"
    ),
    "/vendor/ort/ort.wasm.min.mjs": "onnxruntime-web/dist/ort.wasm.min.mjs",
    "/vendor/ort/ort-wasm-simd-threaded.mjs": (
        "onnxruntime-web/dist/ort-wasm-simd-threaded.mjs"
    ),
    "/vendor/ort/ort-wasm-simd-threaded.wasm": (
        "onnxruntime-web/dist/ort-wasm-simd-threaded.wasm"
    ),
}
#: Model files of a run the page may load: file name -> (runtime, kind).
MODEL_FILES = {
    "model.tflite": ("litert", "fused"),
    "model_builtin.tflite": ("litert", "builtin"),
    "model.onnx": ("onnx", "builtin"),
}
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".wasm": "application/wasm",
    ".tflite": "application/octet-stream",
    ".onnx": "application/octet-stream",
}


def runtimes_installed():
    """True when every runtime file is in `node_modules/`."""
    return all((NODE_MODULES / rel).is_file() for rel in RUNTIME_FILES.values())


def _regular_file(path):
    """True for a regular file that is not a symbolic link."""
    return path.is_file() and not path.is_symlink()


def run_info(run_dir):
    """`/run.json`: what the page needs to know about a run.

    Args:
        run_dir: the training run (holding `config.json` and exported models).

    Returns:
        dict with `image_size`, `color_mode`, `classes`, `run` (the folder's
        name) and `models`: a list of `{"url", "file", "runtime", "kind",
        "bytes"}` for each of `MODEL_FILES` present.

    Raises:
        UsageError: no run there, or no exported model in it.
    """
    from applications.sign_language.data import CLASS_NAMES

    run_dir = pathlib.Path(run_dir)
    config_path = run_dir / "config.json"
    if not config_path.is_file():
        raise UsageError(
            f"no training run in {run_dir} (config.json is missing)",
            hint="train one first (python -m applications.sign_language main "
            "--run-dir DIR), or pass its --run-dir",
        )
    config = json.loads(config_path.read_text())
    models = []
    for name, (runtime, kind) in MODEL_FILES.items():
        path = run_dir / name
        if _regular_file(path):
            models.append(
                {
                    "url": f"/models/{name}",
                    "file": name,
                    "runtime": runtime,
                    "kind": kind,
                    "bytes": path.stat().st_size,
                }
            )
    if not any(model["runtime"] == "litert" for model in models):
        raise UsageError(
            f"no exported model in {run_dir} (model.tflite, model_builtin.tflite)",
            hint="export it first: python -m applications.sign_language export "
            f"--run-dir {run_dir}",
        )
    return {
        "run": run_dir.resolve().name,
        "image_size": int(config.get("image_size", 64)),
        "color_mode": config.get("color_mode", "rgb"),
        "classes": list(CLASS_NAMES),
        "models": models,
    }


def asset_table(run_dir):
    """The complete table URL path -> `("file", Path)` or `("bytes", bytes)`.

    Built once when the server starts; requests are looked up in it and
    nothing else.

    Raises:
        UsageError: the runtimes are not installed (run install.sh), or the
            run has no exported model.
    """
    if not runtimes_installed():
        missing = [
            rel for rel in RUNTIME_FILES.values() if not (NODE_MODULES / rel).is_file()
        ]
        raise UsageError(
            f"the browser runtimes are not installed ({missing[0]} is missing "
            f"under {NODE_MODULES})",
            hint=f"run ./install.sh, or: cd {HERE} && npm ci",
        )
    info = run_info(run_dir)
    table = {url: ("file", STATIC / name) for url, name in PAGE_FILES.items()}
    table.update(
        {url: ("file", NODE_MODULES / rel) for url, rel in RUNTIME_FILES.items()}
    )
    # LiteRT.js imports its helper by package name; the page has no import
    # map (the Content-Security-Policy allows no inline script), so the
    # import is pointed at the served copy.
    core = (NODE_MODULES / RUNTIME_FILES["/vendor/litertjs/core.js"]).read_bytes()
    table["/vendor/litertjs/core.js"] = (
        "bytes",
        core.replace(b'from "@litertjs/wasm-utils"', b'from "./wasm-utils.js"'),
    )
    for model in info["models"]:
        path = pathlib.Path(run_dir) / model["file"]
        if path.suffix == ".tflite":
            # LiteRT.js cannot resize a dynamic batch (static_batch.py).
            table[model["url"]] = ("bytes", static_batch(path.read_bytes()))
        else:
            table[model["url"]] = ("file", path)
    table["/run.json"] = ("bytes", json.dumps(info).encode())
    return table


def content_type(url_path):
    """The Content-Type of a table entry, by its URL's suffix."""
    if url_path.endswith("/"):
        return CONTENT_TYPES[".html"]
    return CONTENT_TYPES.get(pathlib.PurePosixPath(url_path).suffix, "text/plain")
