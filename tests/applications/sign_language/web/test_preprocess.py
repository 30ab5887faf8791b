"""The page's preprocessing (static/preprocess.js, run under Node) equals the
application's Pillow path on the same pixels, byte for byte.

The reference is Pillow itself (`Image.convert` + `Image.resize(BILINEAR)`,
as `data.load_image` does after decoding), on random images of many sizes,
shrinking and enlarging, RGB and grayscale; the browser's own decoding is
checked by the selftest on real files.

Square images (the dataset's photos, the camera's centre square) are compared
with one `resize` call. Pillow resizes in two passes, horizontal then
vertical; since Pillow 13 it runs the vertical pass first when the height
shrinks much more than the width (python-pillow/Pillow#9549), a rule the page
does not copy, so non-square images are compared with the two passes made
explicit (one single-axis `resize` each), which every Pillow computes alike.
"""

import json
import pathlib
import shutil
import subprocess

import numpy as np
import pytest
from PIL import Image

from applications.sign_language.web import assets
from tests.applications.sign_language.web.support import missing

pytestmark = pytest.mark.backend_independent
RUNNER = pathlib.Path(__file__).with_name("preprocess_node.mjs")
#: (width, height, size): shrink by <2x, by >2x, odd factors, enlarge, no-op.
SHAPES = [
    (100, 100, 64),
    (100, 100, 16),
    (37, 91, 28),
    (640, 480, 64),
    (13, 7, 32),
    (7, 7, 32),
    (64, 64, 64),
    (400, 400, 64),
    (99, 99, 64),
    (3, 200, 5),
    (255, 17, 1),
]


def _node_preprocess(cases):
    node = shutil.which("node")
    if node is None:
        missing("node not found: apt-get install nodejs (install.sh does)")
    path = pathlib.Path(cases["dir"]) / "cases.json"
    path.write_text(json.dumps(cases["items"]))
    result = subprocess.run(
        [node, str(RUNNER), str(assets.STATIC / "preprocess.js"), str(path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def _pillow(rgba, mode, size):
    image = Image.fromarray(rgba, "RGBA").convert("L" if mode == "grayscale" else "RGB")
    if image.width != image.height:
        image = image.resize((size, image.height), Image.Resampling.BILINEAR)
    return np.asarray(image.resize((size, size), Image.Resampling.BILINEAR)).reshape(-1)


def test_preprocess_js_equals_pillow(tmp_path):
    rng = np.random.default_rng(23)
    items, expected = [], []
    for width, height, size in SHAPES:
        for mode in ("rgb", "grayscale"):
            rgba = rng.integers(0, 256, (height, width, 4), dtype=np.uint8)
            rgba[..., 3] = 255  # opaque, as decoded photos are
            # Smooth regions and hard edges as well as noise.
            rgba[: height // 2, : width // 3, :3] = rng.integers(0, 256, 3)
            items.append(
                dict(
                    rgba=rgba.reshape(-1).tolist(),
                    width=width,
                    height=height,
                    size=size,
                    mode=mode,
                )
            )
            expected.append(_pillow(rgba, mode, size))
    got = _node_preprocess({"dir": tmp_path, "items": items})
    for item, want, have in zip(items, expected, got):
        have = np.asarray(have, dtype=np.int32)
        label = f"{item['width']}x{item['height']} -> {item['size']} {item['mode']}"
        assert have.shape == want.shape, label
        np.testing.assert_array_equal(have, want.astype(np.int32), err_msg=label)


def test_preprocess_js_detects_a_change(tmp_path):
    """The comparison can fail: a nearest-neighbour resize is not equal."""
    rng = np.random.default_rng(1)
    rgba = rng.integers(0, 256, (50, 50, 4), dtype=np.uint8)
    rgba[..., 3] = 255
    got = _node_preprocess(
        {
            "dir": tmp_path,
            "items": [
                dict(
                    rgba=rgba.reshape(-1).tolist(),
                    width=50,
                    height=50,
                    size=16,
                    mode="rgb",
                )
            ],
        }
    )[0]
    nearest = np.asarray(
        Image.fromarray(rgba, "RGBA")
        .convert("RGB")
        .resize((16, 16), Image.Resampling.NEAREST)
    ).reshape(-1)
    assert not np.array_equal(np.asarray(got), nearest)
