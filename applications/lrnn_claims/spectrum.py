"""The spectral-bias measurement: the residual's amplitude at the signal's
frequencies.

For a residual `r = f - f_hat` sampled on a periodic grid of `M` points per
axis, the amplitude of its component at the integer frequency `k` (cycles
per period) is `A_k = 2 |R_k| / M^D` with `R = FFT(r)` (`D` = 1 or 2 axes;
the sinusoid `A sin(2 pi k x + phi)` gives `|R_k| = A M^D / 2` for `0 < k <
M/2`). Reported per frequency as `A_k(residual) / A_k(signal)`: 1 while the
network has learnt nothing of that frequency, 0 when it is learnt.
"""

import numpy as np


def amplitudes(values, frequencies, size):
    """Amplitudes of `values` (a 1-D or flattened 2-D grid) at `frequencies`.

    Args:
        values: `(size,)` or `(size * size,)` samples (row-major `(y, x)`).
        frequencies: integers (1-D) or `(k_x, k_y)` pairs (2-D).
        size: grid points per axis.

    Returns:
        float64 array, one amplitude per frequency.
    """
    values = np.asarray(values, np.float64)
    if np.ndim(frequencies[0]) == 0:
        spectrum = np.fft.fft(values.reshape(size))
        return np.array([2 * abs(spectrum[k % size]) / size for k in frequencies])
    spectrum = np.fft.fft2(values.reshape(size, size))
    return np.array(
        [2 * abs(spectrum[ky % size, kx % size]) / size**2 for kx, ky in frequencies]
    )


def relative_residual(truth, estimate, frequencies, size):
    """`A_k(truth - estimate) / A_k(truth)` at each frequency."""
    truth = np.asarray(truth, np.float64)
    residual = truth - np.asarray(estimate, np.float64).reshape(truth.shape)
    return amplitudes(residual, frequencies, size) / amplitudes(
        truth, frequencies, size
    )
