"""The `web` subcommand: serve the page, or run the browser selftest.

python -m applications.sign_language web [--run-dir DIR] [--port N] [--host H]
python -m applications.sign_language web --selftest --images DIR [--limit N]
python -m applications.sign_language web --export-onnx [--run-dir DIR]
"""

import pathlib
import sys

from applications.sign_language.config import DEFAULT_RUN_DIR

HELP = "serve the model in a web page (camera or upload), or test it in Chromium"


def add_parser(commands, add_shared):
    """Adds `web` to the subcommands of `applications.sign_language`.

    Args:
        commands: the `add_subparsers` object.
        add_shared: the application's helper adding `--backend`/`--verbose`.
    """
    from applications.sign_language.web.server import DEFAULT_HOST
    from applications.sign_language.web.server import DEFAULT_PORT

    sub = commands.add_parser("web", help=HELP, description=HELP)
    add_shared(sub)
    sub.add_argument(
        "--run-dir",
        default=DEFAULT_RUN_DIR,
        metavar="DIR",
        help="the trained, exported run (default: %(default)s)",
    )
    sub.add_argument(
        "--port",
        type=int,
        default=DEFAULT_PORT,
        help="TCP port (default: %(default)s; 0 picks a free one)",
    )
    sub.add_argument(
        "--host",
        default=DEFAULT_HOST,
        help="address to listen on (default: %(default)s, this machine only; "
        "the camera needs 127.0.0.1/localhost or https)",
    )
    sub.add_argument(
        "--export-onnx",
        action="store_true",
        help="first write the run's model.onnx (for ONNX Runtime Web)",
    )
    sub.add_argument(
        "--selftest",
        action="store_true",
        help="instead of serving: classify --images in headless Chromium and "
        "compare with the Python LiteRT interpreter (exit 1 on disagreement)",
    )
    sub.add_argument(
        "--images", metavar="DIR", help="selftest images (class folders give labels)"
    )
    sub.add_argument("--limit", type=int, help="selftest: at most N images")
    sub.add_argument(
        "--screenshot",
        metavar="PNG",
        help="selftest: where to save the page's screenshot "
        "(default: RUN_DIR/web_screenshot.png)",
    )
    sub.add_argument(
        "--runtimes",
        nargs="+",
        choices=["litert", "onnx", "litert-fused"],
        help="selftest: which browser runtimes (default: litert, and onnx "
        "when the run has model.onnx; litert-fused: LiteRT.js on the fused "
        "model.tflite, a diagnostic that does not fail the test)",
    )
    sub.add_argument(
        "--json", metavar="FILE", help="selftest: also write the report as JSON"
    )
    sub.set_defaults(function=run)
    return sub


def run(args):
    """Serves until Ctrl-C, or runs the selftest; returns its reports."""
    from applications.common.errors import UsageError

    if args.export_onnx:
        from applications.sign_language.web.onnx import export_onnx

        path = export_onnx(args.run_dir)
        print(f"wrote {path} ({pathlib.Path(path).stat().st_size:,} B)")
    if args.selftest:
        from applications.sign_language.web import selftest

        if not args.images:
            raise UsageError(
                "--selftest needs --images DIR",
                hint="e.g. --images ../shared/datasets/sign-language-digits/Dataset --limit 20",
            )
        if args.limit is not None and args.limit < 1:
            raise UsageError(f"--limit must be >= 1; got {args.limit}")
        screenshot = args.screenshot or str(
            pathlib.Path(args.run_dir) / "web_screenshot.png"
        )
        reports = selftest.selftest(
            args.run_dir,
            args.images,
            limit=args.limit,
            screenshot=screenshot,
            runtimes=args.runtimes,
            verbose=args.verbose,
        )
        if args.json:
            selftest.write_json(reports, args.json)
        return reports
    if not 0 <= args.port <= 65535:
        raise UsageError(f"--port must be 0..65535; got {args.port}")
    from applications.sign_language.web.server import Server

    server = Server(args.run_dir, host=args.host, port=args.port, verbose=args.verbose)
    print(f"serving {args.run_dir} at {server.url} (Ctrl-C to stop)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        print("stopped", file=sys.stderr)
    finally:
        server.server_close()
    return None
