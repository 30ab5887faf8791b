"""Keras layers of keras_apalu."""

from keras_apalu.layers.apalu import APALU
from keras_apalu.layers.product_dense import ProductDense

__all__ = ["APALU", "ProductDense"]
