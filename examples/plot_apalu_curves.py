"""Draws APALU for a few (a, b) and its derivative; writes docs/apalu_curves.png.

python examples/plot_apalu_curves.py [--output docs/apalu_curves.png]
"""

import argparse

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from keras import ops  # noqa: E402

from keras_apalu.ops import apalu  # noqa: E402
from keras_apalu.ops import apalu_derivatives  # noqa: E402

PARAMS = [(1.0, 1.0), (0.5, 1.5), (1.5, 0.5), (0.6, 0.9)]


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--output", default="docs/apalu_curves.png")
    args = parser.parse_args()
    x = np.linspace(-4, 3, 701).astype("float32")
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    for a, b in PARAMS:
        label = f"a={a}, b={b}" + (
            "  (C1: b = 1.5 a)" if abs(b - 1.5 * a) < 1e-9 else ""
        )
        left.plot(x, ops.convert_to_numpy(apalu(x, a, b)), label=label)
        dfdx = apalu_derivatives(x, a, b)[0]
        right.plot(x, ops.convert_to_numpy(dfdx), label=label)
    left.plot(x, np.maximum(x, 0), "k:", label="ReLU")
    left.set(title="APALU f(x)", xlabel="x", ylim=(-2, 9))
    right.set(title="df/dx", xlabel="x")
    for ax in (left, right):
        ax.axhline(0, color="grey", lw=0.5)
        ax.axvline(0, color="grey", lw=0.5)
        ax.grid(alpha=0.3)
    left.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(args.output, dpi=110)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
