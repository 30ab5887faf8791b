"""The sign-language model in a web page (`python -m applications.sign_language web`).

Modules:
    assets    the fixed table of what the server may send (page, runtimes, model files)
    server    the local HTTP server (GET/HEAD only, no listing, nothing outside the table)
    selftest  drives headless Chromium through the page's own upload path and
              compares its outputs with the Python LiteRT interpreter
    onnx      writes the run's ONNX export for ONNX Runtime Web
    command   the `web` subcommand

The page (static/) runs in the browser: it decodes and resizes an image exactly
as `applications.sign_language.data.load_image` does (static/preprocess.js),
runs the run's exported model with LiteRT.js or ONNX Runtime Web on
WebAssembly, and shows the top-3 digits.
"""
