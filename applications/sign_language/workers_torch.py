"""Multi-worker training on the torch backend: torch.distributed with gloo.

The only module of the application that imports torch.distributed. It
joins the process group the `torchrun` environment variables describe
(`init_process_group("gloo")`, env:// rendezvous), and makes a compiled
Keras model train data-parallel:

- `average_gradients(model, group)`: before every optimizer update, the
  gradients of all trainable weights (APALU's a and b, like every other)
  and the model's floating-point non-trainable weights (BatchNorm's moving
  statistics) are packed into one buffer, summed over the workers with one
  `all_reduce` and divided by the number of workers. Every worker then
  applies the same update to the same weights.
- `SyncFromChief`: at the start of training (after a resume), worker 0's
  weights and optimizer state are broadcast to the others.

A collective that waits longer than the timeout, or a peer whose connection
drops (a killed worker), raises in every surviving worker; `is_lost_worker`
recognises those errors so the application can stop with a clear message.
"""

import datetime

import keras
import torch
import torch.distributed as dist

NAME = "torch.distributed (gloo)"


def join(group, timeout):
    """Joins the process group of `group` (a `workers.WorkerGroup`).

    Args:
        group: rank and size (MASTER_ADDR / MASTER_PORT are read from the
            environment by torch's env:// rendezvous).
        timeout: seconds any collective, and the rendezvous, may wait.
    """
    if not dist.is_initialized():
        dist.init_process_group(
            backend="gloo",
            rank=group.rank,
            world_size=group.size,
            timeout=datetime.timedelta(seconds=timeout),
        )


def leave():
    """Leaves the process group (no-op if not joined)."""
    if dist.is_initialized():
        dist.destroy_process_group()


def is_lost_worker(error):
    """True if `error` comes from a collective whose peers went away."""
    if isinstance(error, getattr(dist, "DistBackendError", ())):
        return True
    text = str(error).lower()
    return isinstance(error, RuntimeError) and any(
        word in text for word in ("gloo", "connection", "timed out", "timeout")
    )


def _float_variables(variables):
    return [v for v in variables if "float" in str(v.dtype)]


def average_gradients(model, group):
    """Makes `model.optimizer` average gradients over the workers each step.

    Args:
        model: a compiled Keras model (torch backend).
        group: the `workers.WorkerGroup`.
    """
    optimizer = model.optimizer
    if getattr(optimizer, "_averaged_over_workers", False):
        return
    original = optimizer.apply
    statistics = _float_variables(model.non_trainable_variables)
    size = group.size

    def apply(grads, trainable_variables=None):
        grads = [
            torch.zeros_like(v.value) if g is None else g
            for g, v in zip(grads, trainable_variables or model.trainable_variables)
        ]
        pieces = [g.reshape(-1) for g in grads]
        pieces += [v.value.detach().reshape(-1).to(grads[0].dtype) for v in statistics]
        buffer = torch.cat(pieces)
        dist.all_reduce(buffer, op=dist.ReduceOp.SUM)
        buffer /= size
        offset = 0
        averaged = []
        for g in grads:
            averaged.append(buffer[offset : offset + g.numel()].view_as(g))
            offset += g.numel()
        for v in statistics:
            n = int(v.value.numel())
            v.assign(buffer[offset : offset + n].view(v.shape).to(v.value.dtype))
            offset += n
        return original(averaged, trainable_variables)

    optimizer.apply = apply
    optimizer._averaged_over_workers = True  # noqa: SLF001


def gradient_bytes(model):
    """Bytes one worker sends into the all-reduce per step (float32)."""
    count = sum(int(v.value.numel()) for v in model.trainable_variables)
    count += sum(
        int(v.value.numel()) for v in _float_variables(model.non_trainable_variables)
    )
    return 4 * count


class SyncFromChief(keras.callbacks.Callback):
    """Broadcasts worker 0's weights and optimizer state when training starts.

    Put it after `BackupAndRestore`, so that a resumed worker 0's state is
    what everyone starts from.
    """

    def on_train_begin(self, logs=None):
        variables = list(self.model.variables)
        if self.model.optimizer is not None:
            variables += list(self.model.optimizer.variables)
        with torch.no_grad():
            for variable in variables:
                value = variable.value.detach().clone()
                dist.broadcast(value, src=0)
                variable.assign(value)
