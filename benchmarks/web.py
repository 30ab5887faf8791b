"""The sign-language page in headless Chromium: load time, latency, bytes.

    python -m benchmarks web --run-dir runs/sign_language --images DIR
    python -m benchmarks web --quick ...      # 2 rounds, 5 images

Opens the page of `python -m applications.sign_language web` in Debian's
headless Chromium (the selftest's driver) once per runtime and round, the
runtimes interleaved within each round (LiteRT.js on model_builtin.tflite;
ONNX Runtime Web on model.onnx when the run has it), and classifies the same
images through the page's upload input each time. Per runtime it reports,
as median (min-max) over the rounds: the time from navigation to the model
being ready (scripts, WebAssembly and model fetched, compiled, one warm-up
call), the median per-image inference time of a round (`runner.run` on the
preprocessed tensor, measured in the page with performance.now(), which
Chromium rounds to 0.1 ms), and the bytes the page loaded (transfer sizes,
no cache). Times are wall-clock in the browser whatever --clock says; the
browser runs WebAssembly on one thread.
"""

import statistics

TITLE = "The sign-language page in headless Chromium"
CANDIDATES = None


def add_arguments(parser):
    parser.add_argument(
        "--run-dir",
        default="runs/sign_language",
        help="an exported run (model_builtin.tflite; model.onnx for ONNX "
        "Runtime Web: `python -m applications.sign_language web --export-onnx`)",
    )
    parser.add_argument(
        "--images",
        default="../shared/datasets/sign-language-digits/Dataset",
        help="images to classify (class folders give labels)",
    )
    parser.add_argument("--limit", type=int, help="images per round (default 20)")


def settle(args):
    args.rounds = args.rounds or (2 if args.quick else 5)
    args.limit = args.limit or (5 if args.quick else 20)


def child(args):
    raise NotImplementedError("the web benchmark runs in one process")


def _spread(values, digits=0):
    return (
        f"{statistics.median(values):.{digits}f} "
        f"({min(values):.{digits}f}-{max(values):.{digits}f})"
    )


def main(args):
    import shutil
    import tempfile

    from applications.common.errors import UsageError
    from applications.sign_language.web import selftest
    from applications.sign_language.web.assets import run_info
    from applications.sign_language.web.server import Server
    from benchmarks import _common

    why = selftest.browser_missing()
    if why:
        raise SystemExit(f"python -m benchmarks web: no headless Chromium: {why}")
    try:
        info = run_info(args.run_dir)
        images = selftest.select_images(args.images, args.limit)
    except UsageError as error:
        raise SystemExit(f"python -m benchmarks web: {error}") from None
    runtimes = ["litert"] + (
        ["onnx"] if any(m["runtime"] == "onnx" for m in info["models"]) else []
    )
    measured = {
        name: {"ready": [], "ms": [], "bytes": [], "model": ""} for name in runtimes
    }
    server = Server(args.run_dir, port=0).start()
    profile = tempfile.mkdtemp(prefix="benchmark-web-")
    try:
        driver = selftest._browser(profile)
        try:
            for _ in range(args.rounds):
                for name in runtimes:
                    # A fresh document and no HTTP cache (the server sends
                    # no-store): every round loads everything again.
                    driver.get("about:blank")
                    page = selftest.run_page(driver, server.url, name, images)
                    times = [r["ms"] for r in page["results"] if "ms" in r]
                    entry = measured[name]
                    entry["ready"].append(page["ready_ms"])
                    entry["ms"].append(statistics.median(times))
                    entry["bytes"].append(sum(page["resources"].values()))
                    entry["model"] = f"{page['runtime']} on {page['model']}"
        finally:
            driver.quit()
    finally:
        server.stop()
        shutil.rmtree(profile, ignore_errors=True)
    rows = [
        {
            "runtime": name,
            "what": entry["model"],
            "ready_ms": entry["ready"],
            "median_inference_ms": entry["ms"],
            "bytes": entry["bytes"],
        }
        for name, entry in measured.items()
    ]
    table = [
        f"## {len(images)} images, {args.rounds} rounds (median (min-max) over rounds)",
        "",
        "| runtime | page ready, ms | inference per image, ms | loaded, bytes |",
        "|---|---:|---:|---:|",
    ]
    for entry in measured.values():
        table.append(
            f"| {entry['model']} | {_spread(entry['ready'])} | "
            f"{_spread(entry['ms'], 2)} | {statistics.median(entry['bytes']):,.0f} |"
        )
    sections = [table, [__doc__.split("\n\n", 2)[2].strip()]]
    _common.write_report(args, TITLE, sections, rows)
    return 0
