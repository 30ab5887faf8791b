"""Several small networks trained side by side as branches of one Keras model.

Training `k` independent networks one after another costs `k` compilations
and `k` times the per-step overhead, which dominate for networks this
small. Here they are the branches of one model: the same input, one output
per branch, and the loss is the SUM of the branches' losses. No weight is
shared and the gradient of a sum with respect to one branch's weights is
that branch's own gradient; Adam works per parameter, so every branch is
updated exactly as if trained alone with the same learning rate and batch
order. (What the branches do share is the batch order: the seeds of a
configuration differ in their initial weights, not in their shuffling.)
A branch that diverges gives NaN in its own weights only.
"""

import keras
import numpy as np
from keras import ops

from applications.common.errors import UsageError
from applications.common.vjp import value_and_grad


def side_by_side_seeds(seeds):
    """Checks the seeds of a side-by-side study: `[0, ..., N-1]`.

    The branches draw their initial weights one after another from one
    random stream (seeded once), so seed `s` is the `s`-th branch of a
    configuration and a set of seeds must be `0-(N-1)`.

    Raises:
        UsageError: other seeds (e.g. `--seeds 5-9`).
    """
    seeds = list(seeds)
    if seeds != list(range(len(seeds))):
        raise UsageError(
            f"--seeds {' '.join(map(str, seeds))}: this study trains its seeds side by "
            "side from one random stream, so its seeds are 0-(N-1)",
            hint=f"use --seeds 0-{max(len(seeds), 1) - 1} (N = {len(seeds)} seeds)",
        )
    return seeds


class SideBySide:
    """A model of independent branches and the kernels of each branch.

    Args:
        input_shape: shape of one example.
        branches: list of `(name, layers)`: `layers` is the list of
            layers of one branch, applied in order; `name` names its output
            (unique).

    Attributes:
        model: the `keras.Model` (one output per branch, in order).
        names: the branch names.
        layers: `{name: [layers]}`.
    """

    def __init__(self, input_shape, branches):
        names = [name for name, _ in branches]
        if len(set(names)) != len(names):
            raise ValueError("SideBySide: branch names must be unique.")
        inputs = keras.Input(tuple(input_shape))
        outputs = []
        for name, layers in branches:
            h = inputs
            for layer in layers:
                h = layer(h)
            outputs.append(keras.layers.Identity(name=name)(h))
        self.model = keras.Model(inputs, outputs)
        self.names = names
        self.layers = {name: list(layers) for name, layers in branches}

    def kernels(self, name):
        """The kernels of a branch's Dense/Conv2D layers, input side first."""
        return [layer.kernel for layer in self.layers[name] if hasattr(layer, "kernel")]

    def compile(self, learning_rate, jit_compile="auto"):
        """Adam at `learning_rate`; loss: sum of the branches' cross-entropies (logits).

        `jit_compile` goes to `model.compile`: `False` saves the compilation
        of runs of a few steps (the quick modes), at a slower step.
        """
        loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
        self.model.compile(
            optimizer=keras.optimizers.Adam(learning_rate),
            loss=[loss] * len(self.names),
            jit_compile=jit_compile,
        )

    def fit(self, data, epochs, batch_size, seed, callbacks=None):
        """`model.fit` on the training part (every branch gets the labels)."""
        keras.utils.set_random_seed(seed)
        y = data["y_train"]
        history = self.model.fit(
            data["x_train"],
            [y] * len(self.names),
            epochs=epochs,
            batch_size=batch_size,
            verbose=0,
            shuffle=True,
            callbacks=list(callbacks or []),
        )
        return history

    def logits(self, x, batch_size=512):
        """`{name: float64 logits}` of every branch."""
        outputs = self.model.predict(x, batch_size=batch_size, verbose=0)
        if not isinstance(outputs, (list, tuple)):
            outputs = [outputs]
        return {
            name: np.asarray(out, np.float64) for name, out in zip(self.names, outputs)
        }

    def evaluate(self, data, parts=("train", "test")):
        """`{name: {"<part>_loss", "<part>_accuracy"}}` computed in float64 NumPy.

        The loss is the mean cross-entropy of the logits (NaN if a branch
        produced non-finite logits). All parts go through one `predict`
        batch (one compilation).
        """
        xs = [data[f"x_{part}"] for part in parts]
        ends = np.cumsum([len(x) for x in xs])
        logits = self.logits(np.concatenate(xs), batch_size=int(ends[-1]))
        result = {name: {} for name in self.names}
        for part, end, size in zip(parts, ends, (len(x) for x in xs)):
            y = np.asarray(data[f"y_{part}"])
            for name, z in logits.items():
                loss, accuracy = cross_entropy_and_accuracy(z[end - size : end], y)
                result[name][f"{part}_loss"] = loss
                result[name][f"{part}_accuracy"] = accuracy
        return result

    def gradient_norms(self, x, y):
        """`{name: [||dL_name/dW|| per kernel]}` on the batch `(x, y)`.

        `L_name` is the mean cross-entropy of that branch's logits; one
        backward pass of their sum gives every branch its own gradient.
        """
        model = self.model
        trainable = list(model.trainable_variables)
        positions = {id(v): i for i, v in enumerate(trainable)}
        non_trainable = [v.value for v in model.non_trainable_variables]
        x = ops.convert_to_tensor(x)
        y = ops.convert_to_tensor(y)

        def loss_of(*values):
            outputs, _ = model.stateless_call(
                list(values), non_trainable, x, training=False
            )
            if not isinstance(outputs, (list, tuple)):
                outputs = [outputs]
            total = 0.0
            for out in outputs:
                total = total + ops.mean(
                    keras.losses.sparse_categorical_crossentropy(
                        y, out, from_logits=True
                    )
                )
            return total

        _, grads = value_and_grad(loss_of, [v.value for v in trainable])
        norms = {}
        for name in self.names:
            norms[name] = []
            for kernel in self.kernels(name):
                g = np.asarray(
                    ops.convert_to_numpy(grads[positions[id(kernel)]]), np.float64
                )
                norm = float(np.sqrt(np.sum(g * g)))
                norms[name].append(norm if np.isfinite(norm) else float("nan"))
        return norms


def cross_entropy_and_accuracy(logits, labels):
    """Mean softmax cross-entropy and accuracy of float64 logits (NaN loss if not finite)."""
    z = np.asarray(logits, np.float64)
    labels = np.asarray(labels).astype(np.int64)
    if not np.all(np.isfinite(z)):
        accuracy = float(
            np.mean(np.argmax(np.nan_to_num(z, nan=-np.inf), axis=1) == labels)
        )
        return float("nan"), accuracy
    shifted = z - z.max(axis=1, keepdims=True)
    log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    loss = float(-np.mean(log_p[np.arange(len(labels)), labels]))
    return loss, float(np.mean(np.argmax(z, axis=1) == labels))
