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
            shape=coords.shape, name="coords", trainable=False,
            initializer=keras.initializers.Constant(coords))
        self.projection = None
        if projection is not None:
            transposed = np.ascontiguousarray(projection.T)
            self.projection = self.add_weight(
                shape=transposed.shape, name="projection", trainable=False,
                initializer=keras.initializers.Constant(transposed))

    def image(self):
        out = self.network(ops.convert_to_tensor(self.coords))
        return ops.reshape(0.5 * (out + 1.0), (1, -1))

    def call(self, dummy):
        image = self.image()
        if self.projection is not None:
            image = ops.matmul(image, self.projection)
        return ops.repeat(image, ops.shape(dummy)[0], axis=0)


def scores(truth, estimate):
    """`(psnr, ssim)` of an estimate clipped to [0, 1], data range 1."""
    from skimage.metrics import peak_signal_noise_ratio, structural_similarity

    estimate = np.clip(np.asarray(estimate, np.float64), 0.0, 1.0)
    return (float(peak_signal_noise_ratio(truth, estimate, data_range=1.0)),
            float(structural_similarity(truth, estimate, data_range=1.0)))


class _Evaluate(keras.callbacks.Callback):
    def __init__(self, field, truth, eval_every, progbar):
        super().__init__()
        self.field, self.truth = field, truth
        self.eval_every, self.progbar = eval_every, progbar
        self.curve = []

    def on_epoch_end(self, epoch, logs=None):
        image = ops.convert_to_numpy(self.field.image()).reshape(self.truth.shape)
        psnr, ssim = scores(self.truth, image)
        step = (epoch + 1) * self.eval_every
        self.curve.append([step, psnr, ssim, float(logs["loss"])])
        self.image = image
        if self.progbar is not None:
            self.progbar.update(step, [("loss", logs["loss"]), ("psnr", psnr),
                                       ("ssim", ssim)])


def fit(network, truth, target, steps, learning_rate, eval_every,
        projection=None, verbose=True):
    """Fits `network` so its image (or projection) matches `target`.

    Args:
        network: coordinate network, `(pixels, 2) -> (pixels, 1)`.
        truth: the true image (`size x size`), for PSNR/SSIM.
        target: what the loss sees: the image, or the sinogram (flattened
            like `projection`'s rows) for CT.
        steps: full-batch Adam steps (a multiple of `eval_every`).
        learning_rate: peak rate, cosine-decayed to 1 % over `steps`.
        eval_every: steps between evaluations (and curve points).
        projection: optional `(M, pixels)` matrix applied to the image.

    Returns:
        dict with `psnr`, `ssim`, `curve` (`[step, psnr, ssim, loss]` rows),
        `image` and `seconds`.
    """
    from applications.implicit_fields.data import grid

    if steps % eval_every:
        raise ValueError(f"steps ({steps}) must be a multiple of eval_every "
                         f"({eval_every}).")
    field = FieldModel(network, grid(truth.shape[0]), projection)
    schedule = keras.optimizers.schedules.CosineDecay(
        learning_rate, steps, alpha=0.01)
    field.compile(optimizer=keras.optimizers.Adam(schedule), loss="mse")
    target = np.asarray(target, "float32").reshape(1, -1)
    progbar = keras.utils.Progbar(steps) if verbose else None
    evaluate = _Evaluate(field, truth, eval_every, progbar)
    start = time.perf_counter()
    field.fit(np.zeros((eval_every, 1), "float32"),
              np.repeat(target, eval_every, axis=0), batch_size=1,
              epochs=steps // eval_every, shuffle=False, verbose=0,
              callbacks=[evaluate])
    seconds = time.perf_counter() - start
    final = evaluate.curve[-1]
    return {"psnr": final[1], "ssim": final[2], "curve": evaluate.curve,
            "image": evaluate.image, "seconds": seconds}
