"""Weight constraints used by the APALU layer."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="keras_apalu")
class StrictlyPositive(keras.constraints.Constraint):
    """Clips weights to `[min_value, inf)` so that they stay strictly positive.

    APALU is strictly increasing only while `a > 0` and `b > 0`; this is the
    default constraint of both.

    Args:
        min_value: the smallest value a weight may take. Must be > 0.
    """

    def __init__(self, min_value=1e-3):
        if not min_value > 0:
            raise ValueError(f"StrictlyPositive needs min_value > 0; got {min_value}.")
        self.min_value = float(min_value)

    def __call__(self, w):
        w = ops.convert_to_tensor(w)
        return ops.maximum(w, ops.cast(self.min_value, w.dtype))

    def get_config(self):
        return {"min_value": self.min_value}


_NAMES = {"strictly_positive": StrictlyPositive}


def get(identifier):
    """Resolves a constraint like `keras.constraints.get`, plus our own names."""
    if isinstance(identifier, str) and identifier.lower() in _NAMES:
        return _NAMES[identifier.lower()]()
    return keras.constraints.get(identifier)
