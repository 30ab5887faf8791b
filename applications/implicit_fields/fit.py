"""Fitting one network to one task with `model.fit`, on any backend.

The coordinate network is wrapped in a `FieldModel` that evaluates it on the
whole pixel grid (held as a non-trainable weight) and, for CT, projects the
image with the Radon matrix (`keras.ops.matmul`). Its input is a dummy
scalar per "example": every batch of one is one full-batch step, so plain
`model.fit` trains it under TensorFlow, JAX and PyTorch alike, and a
callback evaluates PSNR/SSIM every `eval_every` steps.
"""

import time

import keras
import numpy as np
from keras import ops


class FieldModel(keras.Model):
    """Image (or sinogram) of a coordinate network, shape `(batch, M)`.

    The network predicts `2 * image - 1` (zero-centred); the image is
    `(out + 1) / 2`. With `projection` (shape `(M, pixels)`), the output is
    `image @ projection.T`, the forward projection.
    """

    def __init__(self, network, coords, projection=None, **kwargs):
        super().__init__(**kwargs)
        self.network = network
        self.coords = self.add_weight(
            shape=coords.shape,
            name="coords",
            trainable=False,
            initializer=keras.initializers.Constant(coords),
        )
        self.projection = None
        if projection is not None:
            transposed = np.ascontiguousarray(projection.T)
            self.projection = self.add_weight(
                shape=transposed.shape,
                name="projection",
                trainable=False,
                initializer=keras.initializers.Constant(transposed),
            )

    def image(self):
        out = self.network(ops.convert_to_tensor(self.coords))
        return ops.reshape(0.5 * (out + 1.0), (1, -1))

    def call(self, dummy):
        image = self.image()
        if self.projection is not None:
            image = ops.matmul(image, self.projection)
        return ops.repeat(image, ops.shape(dummy)[0], axis=0)


class PixelModel(keras.Model):
    """Pixel values `(network(coords) + 1) / 2` of a batch of coordinates.

    The image task's model for mini-batches of pixels (`batch_pixels`):
    its input is a batch of `(y, x)` coordinates, so `model.fit` with
    shuffled coordinate-value pairs trains the network on random subsets
    of the pixels, as `FieldModel` does on all of them.
    """

    def __init__(self, network, **kwargs):
        super().__init__(**kwargs)
        self.network = network

    def call(self, coords):
        return 0.5 * (self.network(coords) + 1.0)


def _pixel_batches(pixels, batch_pixels, steps, seed):
    """Indices of `steps` batches of `batch_pixels` pixels, shape (steps, B).

    Concatenated random permutations of all pixels (seeded), so every pixel
    is drawn once per `pixels / batch_pixels` steps.
    """
    rng = np.random.default_rng(seed)
    needed = steps * batch_pixels
    order = np.concatenate(
        [rng.permutation(pixels) for _ in range(-(-needed // pixels))]
    )
    return order[:needed].reshape(steps, batch_pixels)


def scores(truth, estimate):
    """`(psnr, ssim)` of an estimate clipped to [0, 1], data range 1."""
    from skimage.metrics import peak_signal_noise_ratio
    from skimage.metrics import structural_similarity

    estimate = np.clip(np.asarray(estimate, np.float64), 0.0, 1.0)
    return (
        float(peak_signal_noise_ratio(truth, estimate, data_range=1.0)),
        float(structural_similarity(truth, estimate, data_range=1.0)),
    )


class _Evaluate(keras.callbacks.Callback):
    def __init__(self, image, truth, eval_every, progbar):
        super().__init__()
        self.render, self.truth = image, truth
        self.eval_every, self.progbar = eval_every, progbar
        self.curve = []

    def on_epoch_end(self, epoch, logs=None):
        image = ops.convert_to_numpy(self.render()).reshape(self.truth.shape)
        psnr, ssim = scores(self.truth, image)
        step = (epoch + 1) * self.eval_every
        self.curve.append([step, psnr, ssim, float(logs["loss"])])
        self.image = image
        if self.progbar is not None:
            self.progbar.update(
                step, [("loss", logs["loss"]), ("psnr", psnr), ("ssim", ssim)]
            )


def fit(
    network,
    truth,
    target,
    steps,
    learning_rate,
    eval_every,
    projection=None,
    verbose=True,
    batch_pixels=None,
    seed=0,
):
    """Fits `network` so its image (or projection) matches `target`.

    Args:
        network: coordinate network, `(pixels, 2) -> (pixels, 1)`.
        truth: the true image (`size x size`), for PSNR/SSIM.
        target: what the loss sees: the image, or the sinogram (flattened
            like `projection`'s rows) for CT.
        steps: Adam steps (a multiple of `eval_every`).
        learning_rate: peak rate, cosine-decayed to 1 % over `steps`.
        eval_every: steps between evaluations (and curve points).
        projection: optional `(M, pixels)` matrix applied to the image.
        verbose: show a progress bar.
        batch_pixels: optional; each step then sees a random batch of this
            many pixels (image task only) instead of the full image; the
            evaluations still render the full image.
        seed: seed of the pixel batches' order.

    Returns:
        dict with `psnr`, `ssim`, `curve` (`[step, psnr, ssim, loss]` rows),
        `image` and `seconds`.
    """
    from applications.implicit_fields.data import grid

    if steps % eval_every:
        raise ValueError(
            f"steps ({steps}) must be a multiple of eval_every ({eval_every})."
        )
    coords = grid(truth.shape[0])
    schedule = keras.optimizers.schedules.CosineDecay(learning_rate, steps, alpha=0.01)
    progbar = keras.utils.Progbar(steps) if verbose else None
    if batch_pixels is None:
        field = FieldModel(network, coords, projection)
        # Every epoch: eval_every batches of one dummy row, each a full step.
        x = np.zeros((eval_every, 1), "float32")
        y = np.repeat(np.asarray(target, "float32").reshape(1, -1), eval_every, axis=0)
        batch_size, render = 1, field.image
    else:
        if projection is not None:
            raise ValueError(
                "batch_pixels applies to the image task only "
                "(a projection needs the whole image)."
            )
        if not 1 <= batch_pixels <= len(coords):
            raise ValueError(
                f"batch_pixels must be in [1, {len(coords)}]; got {batch_pixels}."
            )
        field = PixelModel(network)
        index = _pixel_batches(len(coords), batch_pixels, steps, seed).ravel()
        x = coords[index]
        y = np.asarray(target, "float32").reshape(-1, 1)[index]
        batch_size = batch_pixels
        # Every epoch: its own eval_every batches of pixels, in order.

        def render():
            return field.predict(coords, batch_size=8192, verbose=0)

    field.compile(optimizer=keras.optimizers.Adam(schedule), loss="mse")
    evaluate = _Evaluate(render, truth, eval_every, progbar)
    start = time.perf_counter()
    # One fit "epoch" of eval_every steps per evaluation.
    chunk = eval_every * batch_size
    for epoch in range(steps // eval_every):
        rows = (
            slice(0, chunk)
            if batch_pixels is None
            else slice(epoch * chunk, (epoch + 1) * chunk)
        )
        field.fit(
            x[rows],
            y[rows],
            batch_size=batch_size,
            initial_epoch=epoch,
            epochs=epoch + 1,
            shuffle=False,
            verbose=0,
            callbacks=[evaluate],
        )
    seconds = time.perf_counter() - start
    final = evaluate.curve[-1]
    return {
        "psnr": final[1],
        "ssim": final[2],
        "curve": evaluate.curve,
        "image": evaluate.image,
        "seconds": seconds,
    }
