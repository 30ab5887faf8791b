"""Implicit neural fields: fit a coordinate network to an image or a CT scan.

Two tasks, each one command (`python -m applications.implicit_fields image`
or `... ct`), comparing LRNN networks (`keras_apalu.layers.ProductDense`)
with SIREN, a ReLU MLP with Fourier features and an APALU MLP at equal
parameter count and equal steps. See docs/implicit_fields.md.
"""
