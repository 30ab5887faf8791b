"""Keras layers of keras_apalu."""

from keras_apalu.layers.apalu import APALU

__all__ = ["APALU"]
