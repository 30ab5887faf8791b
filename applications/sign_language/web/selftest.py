"""`web --selftest`: the page in headless Chromium against the Python interpreter.

Starts the server on a free port, opens the page in Debian's Chromium
(headless, driven by Selenium through chromedriver), and for each browser
runtime the run supports (LiteRT.js; ONNX Runtime Web when the run has
model.onnx) sends the images to the page's own file input, the path a user's
upload takes. For every image it compares:

- preprocessing: the page's 8-bit model input with Python's
  `data.load_image` of the same file (identical or the max difference);
- agreement: the page's class probabilities with those of the Python LiteRT
  interpreter (`inference.TFLitePredictor`, the APALU kernel registered) on
  the application's model.tflite and Python's own preprocessing: the end to
  end check, within `TOLERANCE`;
- accuracy, when the images lie in folders named by their digit.

Prints `agreement: N/N` and `accuracy: X%` per runtime, the page's load
time, the median inference time per image and the bytes the page loaded;
takes a screenshot of the page. Exits 1 (RunFailedError) on any
disagreement.
"""

import json
import pathlib
import shutil
import statistics
import tempfile
import time

import numpy as np

from applications.common.errors import RunFailedError
from applications.common.errors import UsageError

#: Max |page - Python| of any class probability for an image to agree.
TOLERANCE = 1e-4
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
#: Flags of the headless browser: no GPU, no network beyond this server, a
#: fresh profile per run (added in `_browser`).
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--window-size=1000,760",
)
#: Runtimes the selftest knows: the page's two, and LiteRT.js forced onto
#: the fused model.tflite, a diagnostic whose disagreement is reported but
#: expected (LiteRT.js has no APALU kernel), so it does not fail the test.
RUNTIMES = ("litert", "onnx", "litert-fused")
DIAGNOSTIC = ("litert-fused",)
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp")


def browser_missing():
    """Why the selftest cannot run here (a sentence), or None when it can."""
    for path, package in ((CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")):
        if not pathlib.Path(path).is_file():
            return f"{path} is missing (apt-get install -y {package})"
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "the selenium package is missing (pip install selenium)"
    return None


def select_images(folder, limit=None):
    """Image files under `folder`, taken in turn from each class folder.

    Args:
        folder: a folder of images, or of class folders `0`..`9` (directly
            or below, as the dataset's `Dataset/`).
        limit: at most this many (round-robin over the class folders, so a
            few images cover several digits).

    Returns:
        list of `(path, label or None)`; the label is the digit of the
        folder an image lies in.

    Raises:
        UsageError: no images there.
    """
    from applications.sign_language.data import CLASS_NAMES

    folder = pathlib.Path(folder)
    if not folder.is_dir():
        raise UsageError(f"--images {folder}: no such folder")
    groups = {}
    for path in sorted(folder.rglob("*")):
        if path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES:
            label = path.parent.name if path.parent.name in CLASS_NAMES else None
            groups.setdefault(path.parent, []).append((path, label))
    chosen, lists = [], [list(g) for g in groups.values()]
    while any(lists) and (limit is None or len(chosen) < limit):
        for items in lists:
            if items and (limit is None or len(chosen) < limit):
                chosen.append(items.pop(0))
    if not chosen:
        raise UsageError(
            f"--images {folder}: no image files ({', '.join(IMAGE_SUFFIXES)})",
            hint="give a folder of photos, or of class folders 0..9 of photos",
        )
    return chosen


def _browser(profile):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile}")
    service = Service(executable_path=CHROMEDRIVER)
    return webdriver.Chrome(options=options, service=service)


def _wait(driver, script, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = driver.execute_script(script)
        if value:
            return value
        time.sleep(0.05)
    raise RunFailedError(f"the page did not {what} within {timeout:.0f} s")


def run_page(driver, url, runtime, images, screenshot=None, timeout=120):
    """Loads the page with one runtime and classifies `images` through it.

    Returns:
        dict with `ready_ms` (navigation to model ready), `model`, `runtime`,
        `note`, `results` (the page's per-image records) and `resources`
        (URL -> bytes the page loaded).
    """
    from selenium.webdriver.common.by import By

    query = (
        "runtime=litert&model=fused"
        if runtime == "litert-fused"
        else f"runtime={runtime}"
    )
    driver.get(f"{url}?{query}")
    _wait(
        driver,
        "return window.__selftest && (window.__selftest.ready || window.__selftest.error)",
        timeout,
        f"load the {runtime} runtime",
    )
    probe = driver.execute_script("return window.__selftest")
    if probe.get("error"):
        raise RunFailedError(f"the page could not load {runtime}: {probe['error']}")
    ready_ms = driver.execute_script("return performance.now()")
    ready_ms = probe.get("readyAt") or ready_ms
    upload = driver.find_element(By.ID, "files")
    upload.send_keys("\n".join(str(pathlib.Path(p).resolve()) for p, _ in images))
    _wait(
        driver,
        f"return window.__selftest.results.length >= {len(images)}",
        timeout + 2 * len(images),
        "classify every image",
    )
    if screenshot is not None:
        pathlib.Path(screenshot).parent.mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(screenshot))
    resources = driver.execute_script(
        "return performance.getEntriesByType('navigation').concat("
        "performance.getEntriesByType('resource')).map("
        "e => [e.name, e.encodedBodySize])"
    )
    probe = driver.execute_script("return window.__selftest")
    return {
        "ready_ms": float(probe.get("readyAt") or ready_ms),
        "model": probe["model"],
        "runtime": probe["runtime"],
        "note": probe.get("note") or "",
        "results": probe["results"],
        "resources": {name: int(size) for name, size in resources},
    }


def compare(run_dir, images, page):
    """Compares one runtime's page results with Python (see module docstring).

    Returns:
        dict with `images`, `agreement`, `max_abs_diff`, `same_input`,
        `max_pixel_diff`, `accuracy` (or None), `median_ms`, `ms_spread`
        (min, max) and `failures` (names of images that disagree).
    """
    from applications.sign_language import data as data_lib
    from applications.sign_language.inference import TFLitePredictor

    run_dir = pathlib.Path(run_dir)
    reference = TFLitePredictor(run_dir / "model.tflite")
    size, channels = reference.input_shape[0], reference.input_shape[2]
    mode = "grayscale" if channels == 1 else "rgb"
    agree = same_input = correct = labelled = 0
    worst_prob = worst_pixel = 0.0
    failures, times = [], []
    for (path, label), record in zip(images, page["results"]):
        if "error" in record:
            failures.append(f"{path.name} ({record['error']})")
            continue
        expected_pixels = data_lib.load_image(path, size, mode)
        pixels = np.asarray(record["pixels"], dtype=np.int32).reshape(
            expected_pixels.shape
        )
        pixel_diff = float(np.max(np.abs(pixels - expected_pixels.astype(np.int32))))
        same_input += pixel_diff == 0
        worst_pixel = max(worst_pixel, pixel_diff)
        expected = reference(expected_pixels[None].astype("float32"))[0]
        got = np.asarray(record["probabilities"], dtype=np.float64)
        diff = float(np.max(np.abs(got - expected)))
        worst_prob = max(worst_prob, diff)
        if diff <= TOLERANCE:
            agree += 1
        else:
            failures.append(
                f"{path.name} (max |diff| {diff:.1e}, pixels {pixel_diff:.0f})"
            )
        if label is not None:
            labelled += 1
            correct += int(np.argmax(got)) == int(label)
        times.append(float(record["ms"]))
    return {
        "images": len(images),
        "agreement": agree,
        "max_abs_diff": worst_prob,
        "same_input": same_input,
        "max_pixel_diff": worst_pixel,
        "accuracy": correct / labelled if labelled else None,
        "median_ms": statistics.median(times) if times else None,
        "ms_spread": (min(times), max(times)) if times else None,
        "failures": failures,
    }


def selftest(
    run_dir, images_dir, limit=None, screenshot=None, runtimes=None, verbose=False
):
    """Runs the selftest; returns `{runtime: report}` (see `compare`).

    Args:
        run_dir: the trained, exported run.
        images_dir: folder of images (class folders give labels).
        limit: at most this many images.
        screenshot: PNG path of the page's screenshot (first runtime), or None.
        runtimes: which of `RUNTIMES` (default: litert, and onnx when the
            run has model.onnx).
        verbose: log requests.

    Raises:
        UsageError: no browser, no images, no exported run.
        RunFailedError: a disagreement (after printing the reports).
    """
    from applications.sign_language.web.assets import run_info
    from applications.sign_language.web.server import Server

    why = browser_missing()
    if why:
        raise UsageError(
            f"the selftest needs headless Chromium: {why}",
            hint="./install.sh installs chromium, chromium-driver and selenium",
        )
    images = select_images(images_dir, limit)
    info = run_info(run_dir)
    if runtimes is None:
        runtimes = ["litert"] + (
            ["onnx"] if any(m["runtime"] == "onnx" for m in info["models"]) else []
        )
    server = Server(run_dir, port=0, verbose=verbose).start()
    profile = tempfile.mkdtemp(prefix="sign-language-web-")
    reports = {}
    try:
        driver = _browser(profile)
        try:
            for index, runtime in enumerate(runtimes):
                page = run_page(
                    driver,
                    server.url,
                    runtime,
                    images,
                    screenshot=screenshot if index == 0 else None,
                )
                report = compare(run_dir, images, page)
                report.update(
                    runtime=page["runtime"],
                    model=page["model"],
                    note=page["note"],
                    ready_ms=page["ready_ms"],
                    asset_bytes=sum(page["resources"].values()),
                    resources=page["resources"],
                )
                reports[runtime] = report
                print(summary(report))
        finally:
            driver.quit()
    finally:
        server.stop()
        shutil.rmtree(profile, ignore_errors=True)
    if screenshot is not None:
        print(f"screenshot: {screenshot}")
    bad = {
        name: r
        for name, r in reports.items()
        if r["agreement"] < r["images"] and name not in DIAGNOSTIC
    }
    if bad:
        raise RunFailedError(
            "the page disagrees with the Python interpreter: "
            + "; ".join(
                f"{name}: {', '.join(r['failures'][:5])}" for name, r in bad.items()
            ),
            hint="rerun with --verbose; `preprocessing` above says whether the "
            "inputs already differ",
        )
    return reports


def summary(report):
    """The lines printed for one runtime."""
    n = report["images"]
    lines = [
        f"{report['runtime']} on {report['model']}"
        + (f" ({report['note']})" if report["note"] else ""),
        f"  agreement: {report['agreement']}/{n} (max |diff| of a probability "
        f"{report['max_abs_diff']:.1e}, tolerance {TOLERANCE:.0e}, vs the Python "
        "LiteRT interpreter on model.tflite)",
        f"  preprocessing: {report['same_input']}/{n} model inputs identical to "
        f"Python's (max difference {report['max_pixel_diff']:.0f} grey levels)",
    ]
    if report["accuracy"] is not None:
        lines.append(f"  accuracy: {report['accuracy']:.1%}")
    if report["median_ms"] is not None:
        low, high = report["ms_spread"]
        lines.append(
            f"  inference per image: median {report['median_ms']:.2f} ms "
            f"(min {low:.2f}, max {high:.2f}) over {n} images"
        )
    lines.append(
        f"  page ready in {report['ready_ms']:.0f} ms; loaded "
        f"{report['asset_bytes']:,} B ("
        + ", ".join(
            f"{name.rsplit('/', 1)[-1]} {size:,}"
            for name, size in sorted(
                report["resources"].items(), key=lambda kv: -kv[1]
            )[:4]
        )
        + ")"
    )
    return "\n".join(lines)


def write_json(reports, path):
    """Writes the reports as JSON (for docs and benchmarks)."""
    pathlib.Path(path).write_text(json.dumps(reports, indent=1, default=float))
