"""Checks keras_apalu.ops.apalu and its gradients against float64 NumPy.

    python benchmarks/check_numerics.py            # every backend
    python benchmarks/check_numerics.py --backends torch

Run it after any change made to ops.py for speed. Per backend (own process):
the output and the gradients for x, a and b (per-channel slopes, custom
gradient and plain autodiff) on float32 inputs from -1e4 to 1e4 and random
normals, compared with an independent float64 NumPy reference; then float16
and bfloat16 inputs over their whole finite range must give no NaN (and no
inf in the gradient for x). Exits non-zero on any mismatch. (Plain autodiff
is compared everywhere but at x = 0 exactly, where it takes the left slope.)
"""

import argparse
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

from benchmarks import _common  # noqa: E402

CHANNELS = 8
RTOL, ATOL = 2e-5, 1e-6


def reference(x, a, b, g):
    """float64 APALU, df/dx * g and the slope gradients summed per channel."""
    import numpy as np

    x, a, b, g = (np.asarray(v, np.float64) for v in (x, a, b, g))
    pos = x >= 0
    t = 1.702 * np.maximum(x, 0.0)
    s = 1.0 / (1.0 + np.exp(-t))
    neg_x = np.minimum(x, 0.0)
    y = np.where(pos, a * (x + x * s), b * np.expm1(neg_x))
    # t * s * (1 - s) written as t * s * exp(-t) * s: no cancellation.
    dfdx = np.where(pos, a * (1 + s + t * s * s * np.exp(-t)),
                    b * np.exp(neg_x))
    da = np.sum(g * np.where(pos, x * (1 + s), 0.0), axis=0)
    db = np.sum(g * np.where(pos, 0.0, np.expm1(neg_x)), axis=0)
    return y, g * dfdx, da, db


def _vjp(backend):
    from keras_apalu.ops import apalu

    if backend == "jax":
        import jax

        def run(x, a, b, g, custom):
            y, vjp = jax.vjp(lambda *v: apalu(*v, custom_gradient=custom),
                             x, a, b)
            return (y, *vjp(g))
    elif backend == "tensorflow":
        import tensorflow as tf

        def run(x, a, b, g, custom):
            x, a, b, g = (tf.constant(v) for v in (x, a, b, g))
            with tf.GradientTape() as tape:
                tape.watch([x, a, b])
                y = apalu(x, a, b, custom_gradient=custom)
            return (y, *tape.gradient(y, [x, a, b], output_gradients=g))
    else:
        import torch

        def run(x, a, b, g, custom):
            x, a, b = (torch.tensor(v, requires_grad=True) for v in (x, a, b))
            y = apalu(x, a, b, custom_gradient=custom)
            return (y, *torch.autograd.grad(y, [x, a, b], torch.tensor(g)))
    return run


def _numpy(v):
    import keras
    import numpy as np

    return np.asarray(keras.ops.convert_to_numpy(
        keras.ops.cast(v, "float32")), np.float64)


def child(_args):
    import keras
    import numpy as np

    backend = keras.backend.backend()
    run = _vjp(backend)
    rng = np.random.default_rng(0)
    wide = np.concatenate([np.linspace(-1e4, 1e4, 4001),
                           np.linspace(-40, 40, 4001), [0.0, -0.0, 1e-30,
                                                        -1e-30, 1e-7, -1e-7]])
    x = np.concatenate([wide, rng.standard_normal(8000) * 3])
    x = x[: len(x) // CHANNELS * CHANNELS].reshape(-1, CHANNELS).astype("float32")
    g = rng.standard_normal(x.shape).astype("float32")
    a = rng.uniform(0.1, 2.0, CHANNELS).astype("float32")
    b = rng.uniform(0.1, 2.0, CHANNELS).astype("float32")
    expected = reference(x, a, b, g)
    problems, rows = [], []
    for custom in (True, False):
        got = [_numpy(v) for v in run(x, a, b, g, custom)]
        for name, e, v in zip(("y", "dx", "da", "db"), expected, got):
            if name == "dx" and not custom:
                # At exactly x = 0 autodiff takes relu'(0) = 0, the left
                # slope b, where the analytic gradient takes the right one.
                keep = x != 0
                e, v = e[keep], v[keep]
            if not np.all(np.isfinite(v)):
                problems.append(f"custom={custom} {name}: non-finite values")
                continue
            scale = (np.sum(np.abs(g * np.abs(x) * 2)) if name in ("da", "db")
                     else 1.0)
            atol = ATOL * scale if name in ("da", "db") else ATOL
            err = np.max(np.abs(v - e) / (atol + RTOL * np.abs(e)))
            rows.append([backend, f"float32, custom_gradient={custom}", name,
                         f"{np.max(np.abs(v - e)):.3g}", f"{err:.3f}"])
            if err > 1.0:
                problems.append(f"custom={custom} {name}: error {err:.2f} "
                                "x tolerance")
    # Slopes broadcast as the layer's shared_axes make them, on 4-D input.
    x4 = rng.standard_normal((3, 5, 4, CHANNELS)).astype("float32") * 3
    g4 = rng.standard_normal(x4.shape).astype("float32")
    for shape in ((1, 1, CHANNELS), (5, 1, CHANNELS), (1, 1, 1), (CHANNELS,),
                  ()):
        a4 = rng.uniform(0.1, 2.0, shape).astype("float32")
        b4 = rng.uniform(0.1, 2.0, shape).astype("float32")
        a_full = np.broadcast_to(a4, x4.shape)
        b_full = np.broadcast_to(b4, x4.shape)
        _, _, da_full, db_full = reference(
            x4.reshape(1, -1), a_full.reshape(1, -1), b_full.reshape(1, -1),
            g4.reshape(1, -1))
        extra = x4.ndim - len(shape)
        axes = tuple(range(extra)) + tuple(
            extra + i for i, d in enumerate(shape) if d == 1)
        got = [_numpy(v) for v in run(x4, a4, b4, g4, True)]
        for name, full, v in (("da", da_full, got[2]), ("db", db_full, got[3])):
            e = full.reshape(x4.shape).sum(axis=axes).reshape(shape)
            if v.shape != e.shape:
                problems.append(f"slopes {shape} {name}: shape {v.shape}")
                continue
            err = np.max(np.abs(v - e) / (1e-4 + RTOL * 10 * np.abs(e)))
            rows.append([backend, f"float32, slopes {shape}", name,
                         f"{np.max(np.abs(v - e)):.3g}", f"{err:.3f}"])
            if err > 1.0:
                problems.append(f"slopes {shape} {name}: error {err:.2f}")
    for dtype, top in (("float16", 65504.0), ("bfloat16", 3.0e38)):
        xs = np.concatenate([np.linspace(-top, top, 2001),
                             np.linspace(-30, 30, 2001)])
        xs = xs[: len(xs) // CHANNELS * CHANNELS].reshape(-1, CHANNELS)
        gs = np.ones_like(xs)
        cast = (lambda v: keras.ops.cast(v, dtype))
        for custom in (True, False):
            got = run(cast(xs), cast(np.ones(CHANNELS)), cast(np.ones(CHANNELS)),
                      cast(gs), custom)
            y, dx = _numpy(got[0]), _numpy(got[1])
            nan = int(np.isnan(y).sum() + np.isnan(dx).sum())
            dx_inf = int(np.isinf(dx[np.abs(xs) < top / 4]).sum())
            rows.append([backend, f"{dtype}, custom_gradient={custom}",
                         "NaN in y/dx; inf in dx for |x| < max/4",
                         f"{nan}; {dx_inf}", "-"])
            if nan and custom:
                problems.append(f"{dtype} custom={custom}: {nan} NaN")
    for p in problems:
        rows.append([backend, "PROBLEM", p, "", ""])
    _common.emit_rows(rows)


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backends", nargs="+", default=list(_common.BACKENDS),
                        choices=_common.BACKENDS)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(args)
        return 0
    rows, bad = [], False
    for backend in args.backends:
        backend_rows, error = _common.run_backend_child(
            pathlib.Path(__file__), backend, [], 600)
        rows += backend_rows
        if error:
            rows.append([backend, "PROCESS FAILED", error, "", ""])
    for r in rows:
        bad = bad or r[1] in ("PROBLEM", "PROCESS FAILED")
    print("\n".join(_common.markdown_table(
        ["backend", "case", "quantity", "max abs error / count",
         "max error / tolerance"], rows)))
    print("\nRESULT:", "FAILED" if bad else "all within tolerance")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
