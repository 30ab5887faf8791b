"""The four experiments; each is one `run(settings)` writing into a run folder.

gradients  adjoint vs backprop vs a float64 reference as steps grow
resnet     Euler ResNet of depth L vs the ODE solution, same weights
ntk        empirical NTK at init vs width, and its drift in training
train      full-batch gradient descent on a digits subset per width
"""

EXPERIMENTS = ("gradients", "resnet", "ntk", "train")
