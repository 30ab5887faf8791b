"""Vector-Jacobian product on the PyTorch backend (`torch.autograd.grad`)."""

import torch


def vjp(fn, primals):
    leaves = [p.detach().requires_grad_(True) for p in primals]
    with torch.enable_grad():
        out = fn(*leaves)

    def pullback(cotangent):
        cotangent = torch.as_tensor(cotangent, dtype=out.dtype, device=out.device)
        if not out.requires_grad:
            return [torch.zeros_like(p) for p in leaves]
        grads = torch.autograd.grad(
            out,
            leaves,
            grad_outputs=cotangent,
            retain_graph=True,
            allow_unused=True,
        )
        return [torch.zeros_like(p) if g is None else g for p, g in zip(leaves, grads)]

    return out.detach(), pullback
