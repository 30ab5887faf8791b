"""What the applications share: one command-line dialect (`cli`), one error
type per exit status (`errors`), quiet native logs (`native_logs`), one
resumable run store (`runs`), one statistics module (`stats`) and
vector-Jacobian products per backend (`vjp`, for the neural ODE and the
activation study).

Nothing here imports keras at module level: the backend is chosen from the
command line before keras is imported.
"""
