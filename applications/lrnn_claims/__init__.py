"""Tests of the LRNN paper's three central claims on synthetic data with known
ground truth: dimension (curse of dimensionality for decaying functional-ANOVA
components), spectral bias (adapted by the learnable product-structured
activations) and width (variance-controlled initialisation, automatic
relevance determination). `python -m applications.lrnn_claims --help`."""
