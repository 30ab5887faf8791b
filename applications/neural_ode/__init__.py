"""Neural ODEs with smooth and kinked activations (APALU, ReLU, softplus, ...).

dh/dt = f(h, t) with f a one-hidden-layer MLP (`model`), solved by Euler,
RK4 or adaptive Dormand-Prince (`solvers`), differentiated by
backpropagation through the solver or by the adjoint method (`adjoint`,
`gradients`), all in `keras.ops` on TensorFlow, JAX and PyTorch; the
vector-Jacobian products are the only backend-specific code (`vjp`).

Experiments (`python -m applications.neural_ode <experiment>`): gradient
accuracy, ResNet vs ODE, empirical NTK, training; see docs/neural_ode.md.
"""
