"""TE-NAS's trainability indicator: the condition number of the empirical NTK (docs/tenas-spec.md §5).

The kernel is Θ = G·Gᵀ where row i of G is the gradient of *the sum of sample i's logits* with
respect to every parameter whose name contains "weight" (conv/linear weights and BN γ; biases,
BN β and architecture alphas excluded), with BatchNorm in train mode on one batch. κ = λmax/λmin.

Engines (all compute the same Θ; `benchmarks/bench_ntk.py` times them against the oracle):

* ``oracle``: one forward, then one ``backward`` per sample, as the official code does.
* ``batched``: ``torch.autograd.grad(..., is_grads_batched=True)``, chunked (generic, slow).
* ``graph``: `proxies.ntk_engine`, a batched reverse pass over the recorded autograd graph
  with hand-written rules (any model; fast for conv/BN/ReLU/pool networks).
* ``compiled``: ``graph`` with inductor-compiled kernels for small layers on CPU (the fastest
  on CPU once compiled; the first call per layer shape compiles for seconds). On CUDA it is
  ``graph``.

Warning:
    Train-mode BN couples the batch: sample i's gradient depends on every other sample, so the
    per-sample gradients cannot come from one backward of a summed loss or from frozen BN
    statistics (a shortcut that ranks cells differently, τ ≈ 0.5). Every engine runs one
    vector-Jacobian product per sample through the coupled graph; they differ only in how.
"""

from __future__ import annotations

import contextlib
import math

import torch
from torch import nn

from harness.errors import InputError, unknown_name
from proxies.ntk_engine import is_out_of_memory, ntk_gradients
from proxies.registry import register_proxy

NTK_ENGINES = ("oracle", "batched", "graph", "compiled")
#: What `condition_number` does when λmin <= 0 (a numerically singular PSD kernel).
NONPOSITIVE_POLICIES = ("inf", "raw")


def ntk_parameters(model: nn.Module) -> list[tuple[str, nn.Parameter]]:
    """The parameters TE-NAS differentiates: names containing "weight", requiring grad."""
    return [(n, p) for n, p in model.named_parameters() if "weight" in n and p.requires_grad]


def _used(params, grads):
    """Drop parameters that the output does not depend on (TE-NAS skips `grad is None`)."""
    return [g for g in grads if g is not None]


def empirical_ntk_oracle(model: nn.Module, inputs: torch.Tensor) -> torch.Tensor:
    """Reference NTK, as the official code computes it: one forward, then one backward per sample
    (``retain_graph``), reading each parameter's ``.grad``. Slow; kept as the correctness oracle."""
    params = [p for _, p in ntk_parameters(model)]
    model.zero_grad(set_to_none=True)
    logits = model(inputs)
    rows = []
    for i in range(logits.shape[0]):
        model.zero_grad(set_to_none=True)
        logits[i : i + 1].backward(torch.ones_like(logits[i : i + 1]), retain_graph=True)
        rows.append(torch.cat([p.grad.reshape(-1) for p in params if p.grad is not None]))
    model.zero_grad(set_to_none=True)
    grads = torch.stack(rows).double()
    return grads @ grads.T


def empirical_ntk_batched(
    model: nn.Module, inputs: torch.Tensor, chunk: int | None = None
) -> torch.Tensor:
    """The same kernel from batched vector-Jacobian products (``is_grads_batched``): the B
    per-sample backward passes run as one vmapped backward, `chunk` cotangents at a time.

    On out-of-memory the chunk is halved and the work retried, down to one sample at a time.
    """
    params = [p for _, p in ntk_parameters(model)]
    logits = model(inputs)
    batch = logits.shape[0]
    # Cotangent i: ones on sample i's logits, zeros elsewhere -> d(sum_c logit[i, c]) / dθ.
    eye = torch.eye(batch, dtype=logits.dtype, device=logits.device)
    cotangents = eye[:, :, None].expand(batch, batch, logits.shape[1])
    chunk = batch if chunk is None else max(1, min(chunk, batch))
    blocks, start = [], 0
    while start < batch:
        stop = min(start + chunk, batch)
        try:
            grads = torch.autograd.grad(
                logits,
                params,
                grad_outputs=cotangents[start:stop],
                retain_graph=True,
                is_grads_batched=True,
                allow_unused=True,
            )
        except RuntimeError as err:  # CUDA's OutOfMemoryError or CPU allocation failure
            if chunk == 1 or not is_out_of_memory(err):
                raise
            chunk = max(1, chunk // 2)
            continue
        blocks.append(torch.cat([g.reshape(stop - start, -1) for g in _used(params, grads)], dim=1))
        start = stop
    return gram(torch.cat(blocks))


def empirical_ntk(
    model: nn.Module, inputs: torch.Tensor, engine: str = "graph", chunk: int | None = None
) -> torch.Tensor:
    """Θ (B x B, float64) of `model` on `inputs`; the model is put in train mode (TE-NAS).

    Args:
        model: the network; its parameters named "*weight*" are differentiated.
        inputs: one batch (B, ...).
        engine: one of `NTK_ENGINES`.
        chunk: cotangents per batched pass (``batched``, ``graph``, ``compiled``); None picks
            the engine's default. Halved automatically on out-of-memory.

    Raises:
        InputError: unknown engine or a non-positive chunk.
    """
    if engine not in NTK_ENGINES:
        raise unknown_name("NTK engine", engine, NTK_ENGINES)
    if chunk is not None and (isinstance(chunk, bool) or not isinstance(chunk, int) or chunk < 1):
        raise InputError(f"chunk must be a positive integer or None; got {chunk!r}.")
    model.train()
    with _ieee_float32(inputs.device):
        if engine == "oracle":
            return empirical_ntk_oracle(model, inputs)
        if engine == "batched":
            return empirical_ntk_batched(model, inputs, chunk)
        params = [p for _, p in ntk_parameters(model)]
        return gram(ntk_gradients(model, inputs, params, chunk, compiled=engine == "compiled"))


def gram(grads: torch.Tensor, block: int = 2**16) -> torch.Tensor:
    """G·Gᵀ in float64, converting `block` columns at a time (no float64 copy of a wide G)."""
    theta = grads.new_zeros((grads.shape[0], grads.shape[0]), dtype=torch.float64)
    for start in range(0, grads.shape[1], block):
        part = grads[:, start : start + block].double()
        theta.addmm_(part, part.T)
    return theta


@contextlib.contextmanager
def _ieee_float32(device: torch.device):
    """No TF32 on CUDA while the kernel is computed: cuDNN's default TF32 convolutions move κ by
    ~1e-3, far more than the engines' agreement (1e-6). Restores the caller's settings."""
    if device.type != "cuda":
        yield
        return
    matmul = torch.backends.cuda.matmul.allow_tf32
    cudnn = torch.backends.cudnn
    try:
        torch.backends.cuda.matmul.allow_tf32 = False
        with cudnn.flags(
            enabled=cudnn.enabled,
            benchmark=cudnn.benchmark,
            deterministic=cudnn.deterministic,
            allow_tf32=False,
        ):
            yield
    finally:
        torch.backends.cuda.matmul.allow_tf32 = matmul


def condition_number(kernel: torch.Tensor, nonpositive: str = "inf") -> float:
    """κ = λmax / λmin of a symmetric kernel (eigenvalues by ``eigvalsh``, in float64).

    Policy, stated because TE-NAS leaves it implicit:

    * a kernel with a NaN or inf entry gives NaN (TE-NAS's pruning maps NaN to 1e5 at ranking
      time; the harness stores NULL with status ``nan``);
    * the all-zero kernel (a network whose output ignores its weights, e.g. a cell with no path
      from input to output) gives NaN (0/0);
    * λmin <= 0 means the PSD kernel is numerically singular: +inf with ``nonpositive="inf"``
      (default), or with ``"raw"`` the official code's raw ratio λmax/λmin (negative when
      λmin < 0, +inf when λmin == 0).

    Raises:
        InputError: unknown `nonpositive` policy.
    """
    if nonpositive not in NONPOSITIVE_POLICIES:
        raise unknown_name("nonpositive policy", nonpositive, NONPOSITIVE_POLICIES)
    kernel = kernel.detach().double().cpu()  # B x B: LAPACK beats a GPU solver's launch cost here
    if not torch.isfinite(kernel).all():
        return math.nan
    eig = torch.linalg.eigvalsh(kernel)
    lmin, lmax = eig[0].item(), eig[-1].item()
    if lmax == 0.0 and lmin == 0.0:
        return math.nan  # 0/0: the all-zero kernel of a network whose output ignores its weights
    if lmin <= 0.0 and nonpositive == "inf":
        return math.inf
    if lmin == 0.0:
        return math.copysign(math.inf, lmax)
    return lmax / lmin


@register_proxy(
    "ntk_cond",
    higher_is_better=False,
    needs_real_data=True,
    uses_gradients=True,
    copy_model=False,
    reference="Chen, Gong & Wang, ICLR 2021 (TE-NAS), lib/procedures/ntk.py",
)
def ntk_cond(
    model: nn.Module,
    inputs: torch.Tensor,
    labels=None,
    *,
    engine: str = "graph",
    chunk: int | None = None,
    nonpositive: str = "inf",
) -> float:
    """Condition number λmax/λmin of the empirical NTK (train-mode BN, sum-of-logits gradients).

    Lower is better (more trainable). Cost: B vector-Jacobian products through the coupled graph.
    Updates BN running statistics as a side effect, as the official code does (they are unused).
    """
    return condition_number(empirical_ntk(model, inputs, engine, chunk), nonpositive)
