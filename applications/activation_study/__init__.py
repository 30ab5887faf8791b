"""Does APALU help, and when? Measured answers to the APALU paper's open questions.

One command per study (`python -m applications.activation_study <study>`):

    depth         1. depth and gradient flow (plain MLPs/CNNs, depth 4..64)
    sensitivity   2. initialisation range x learning rate
    limited-data  3. fractions of the training signers
    regression    4. test MSE on diabetes and a synthetic function
    convergence   5. epochs and wall time to a fixed validation accuracy

Shared pieces: `activations` (the compared activations, by name), `data`
(the datasets, as numpy dicts), `runs` (resumable run folders), `stats`
(mean +- std, Welch's t-test, markdown tables, results files), `models` and
`training` (small networks and one `fit`). See docs/activation_study.md.
"""
