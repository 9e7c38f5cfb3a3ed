"""The fast exact NTK engine: a batched reverse pass over the recorded autograd graph.

One forward pass records the graph (train-mode BN, as TE-NAS). The engine then walks that graph
backwards itself, once per chunk of c cotangents, applying hand-written VJP rules to cotangents
that carry the chunk as their LAST dimension (shape = forward shape + (c,)). Cotangent i is
"ones on sample i's logits", so chunk column i ends as the gradient of sum_k logit[i, k] with
respect to every NTK parameter: the vector the per-sample oracle reads from ``.grad``, through
the same batch-coupled BN backward. Nothing is approximated.

Why this is faster than B calls of ``backward`` (or ``is_grads_batched``):

* per-node constants are computed once per forward and shared by every cotangent: BN's x̂,
  ReLU masks, each conv input's im2col matrix, pooling divisors;
* with the chunk innermost, a shifted 3x3 window of a cotangent is one contiguous run of
  W*c floats, so small-channel convolutions become long vector loops (see `ntk_kernels`) where
  oneDNN's kernels for 1-6 channels run at 0.3-15 GFLOP/s; weight gradients of a whole chunk
  are one contraction over (batch x pixels);
* branches that cannot reach an NTK parameter (biases, architecture alphas) are never walked,
  and branches scaled by an exact zero (the ``none`` op) are dropped.

Autograd nodes without a rule are evaluated by calling the node once per cotangent, so any
model works; only speed depends on the rules (`ntk_rules`).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from proxies import ntk_kernels as K
from proxies.ntk_rules import RULES, bn_supported, call_node, conv_geometry, fused_batch_norm_conv

#: Cotangents per chunk on CPU: one chunk of the widest tenas activation (72 x 3 x 32 x 32 x 8
#: floats, 7 MB) stays in the last-level cache; 4-8 measured best (benchmarks/bench_ntk.py).
CPU_CHUNK = 8


class _Walk:
    """One engine call: the graph in reverse topological order, per-node constants, G's columns."""

    def __init__(self, logits: torch.Tensor, params: Sequence[nn.Parameter], kernels: K.Kernels):
        self.logits = logits
        self.kernels = kernels
        self.param_index = {id(p): k for k, p in enumerate(params)}
        self.cache: dict[tuple[int, str], object] = {}
        self.order, self.leaves, consumers = _reverse_topological(logits.grad_fn, self.param_index)
        self.needed = set(self.order)
        for node in self.order:
            for nxt, output in getattr(node, "next_functions", ()):
                if output != 0 and nxt in self.needed:
                    raise NotImplementedError(
                        f"the 'graph' NTK engine walks single-output autograd nodes only; "
                        f"{type(nxt).__name__} is used through its output {output} (e.g. split/unbind). "
                        f"Use engine='batched' or 'oracle' for this model."
                    )
        # ReLUs whose only consumer is a convolution: their mask is applied inside the conv's
        # grad-input kernel (one pass less over the widest tensors).
        self.fused_relu = set()
        # BN layers fed by a conv that nothing else reads (ReLU-Conv-BN, the stem): one fused
        # step writes BN's input cotangent straight in the layouts the conv's kernels read.
        self.bn_conv: dict = {}
        for node in self.order:
            name = type(node).__name__
            if name == "ConvolutionBackward0":
                first = node.next_functions[0][0]
                if (
                    type(first).__name__ == "ReluBackward0"
                    and consumers.get(first) == 1
                    and conv_geometry(node) is not None
                ):  # else the fallback runs, without the mask
                    self.fused_relu.add(first)
            elif name == "NativeBatchNormBackward0":
                conv = node.next_functions[0][0]
                if (
                    type(conv).__name__ == "ConvolutionBackward0"
                    and consumers.get(conv) == 1
                    and conv_geometry(conv) is not None
                    and bn_supported(node)
                ):
                    self.bn_conv[node] = conv
        self.columns: dict[int, slice] = {}
        offset = 0
        for k, p in enumerate(params):
            if (
                k in self.leaves
            ):  # parameters the output never reaches are left out, as `grad is None`
                self.columns[k] = slice(offset, offset + p.numel())
                offset += p.numel()
        self.width = offset

    def constant(self, node, name: str, make):
        key = (id(node), name)
        if key not in self.cache:
            self.cache[key] = make()
        return self.cache[key]


def _reaches_params(root, param_index) -> dict:
    """node -> whether the AccumulateGrad of some NTK parameter is reachable from it."""
    memo: dict = {}
    stack = [(root, False)]
    while stack:
        node, expanded = stack.pop()
        if type(node).__name__ == "AccumulateGrad":
            memo[node] = id(node.variable) in param_index
        elif not expanded:
            if node in memo:
                continue
            memo[node] = False  # provisional; the graph is acyclic
            stack.append((node, True))
            stack.extend(
                (nxt, False)
                for nxt, _ in node.next_functions
                if nxt is not None and nxt not in memo
            )
        else:
            memo[node] = any(
                memo.get(nxt, False) for nxt, _ in node.next_functions if nxt is not None
            )
    return memo


def _reverse_topological(root, param_index):
    """Nodes that lead to NTK parameters, each after all of its consumers; and the reached params."""
    if root is None:
        return [], set(), {}
    useful = _reaches_params(root, param_index)
    if not useful.get(root, False):
        return [], set(), {}
    waiting: dict = {}
    for node, ok in useful.items():
        if ok and type(node).__name__ != "AccumulateGrad":
            for nxt, _ in node.next_functions:
                if nxt is not None and useful.get(nxt, False):
                    waiting[nxt] = waiting.get(nxt, 0) + 1
    order, ready, leaves = [], [root], set()
    while ready:
        node = ready.pop()
        order.append(node)
        if type(node).__name__ == "AccumulateGrad":
            leaves.add(param_index[id(node.variable)])
            continue
        for nxt, _ in node.next_functions:
            if nxt is not None and useful.get(nxt, False):
                waiting[nxt] -= 1
                if waiting[nxt] == 0:
                    ready.append(nxt)
    return order, leaves, _count_consumers(order)


def _count_consumers(order) -> dict:
    """node -> how many nodes of `order` send it a cotangent."""
    needed = set(order)
    counts: dict = {}
    for node in order:
        if type(node).__name__ == "AccumulateGrad":
            continue
        for nxt, _ in node.next_functions:
            if nxt is not None and nxt in needed:
                counts[nxt] = counts.get(nxt, 0) + 1
    return counts


def _backward_chunk(walk: _Walk, start: int, stop: int, G: torch.Tensor) -> None:
    logits = walk.logits
    c = stop - start
    seed = logits.new_zeros(*logits.shape, c)
    rows = torch.arange(c, device=logits.device)
    seed.view(logits.shape[0], -1, c)[rows + start, :, rows] = 1.0
    pending = {walk.order[0]: seed}
    for node in walk.order:
        g = pending.pop(node, None)
        if g is None:
            continue  # every path into this node was exactly zero
        if type(node).__name__ == "AccumulateGrad":
            G[start:stop, walk.columns[walk.param_index[id(node.variable)]]] = g.reshape(-1, c).t()
            continue
        if node in walk.bn_conv:
            emitted = fused_batch_norm_conv(walk, node, walk.bn_conv[node], g)
        else:
            wants = [nxt is not None and nxt in walk.needed for nxt, _ in node.next_functions]
            rule = RULES.get(type(node).__name__)
            outs = rule(walk, node, g, wants) if rule is not None else None
            if outs is None:
                outs = call_node(node, g)
            emitted = [
                (nxt, out if want else None)
                for (nxt, _), out, want in zip(node.next_functions, outs, wants)
            ]
        for nxt, out in emitted:
            if out is not None and nxt is not None and nxt in walk.needed:
                pending[nxt] = out if nxt not in pending else pending[nxt] + out


def is_out_of_memory(err: BaseException) -> bool:
    """Whether `err` is CUDA's out-of-memory error or a CPU allocation failure."""
    if isinstance(err, torch.OutOfMemoryError):
        return True
    text = str(err).lower()
    return any(
        s in text
        for s in (
            "out of memory",
            "can't allocate memory",
            "not enough memory",
            "failed to allocate",
        )
    )


def engine_kernels(compiled: bool, device: torch.device) -> K.Kernels:
    """The kernel object the engine uses: inductor-compiled on CPU when asked, else eager."""
    return K.compiled_kernels() if compiled and device.type == "cpu" else K.EAGER


def ntk_gradients(
    model: nn.Module,
    inputs: torch.Tensor,
    params: Sequence[nn.Parameter],
    chunk: int | None = None,
    compiled: bool = False,
) -> torch.Tensor:
    """G (B x P', the model's dtype): row i = gradient of sum(logits[i]) w.r.t. `params`.

    Parameters the output never reaches are left out (as the oracle skips ``grad is None``).

    Args:
        model: the network, in the mode the caller wants (train mode for TE-NAS).
        inputs: the batch (B, ...).
        params: the parameters whose gradients form the columns.
        chunk: cotangents per reverse pass (default `CPU_CHUNK` on CPU, all B on GPU). Halved and
            retried on out-of-memory, down to 1.
        compiled: use the inductor-compiled kernels for small-channel layers (CPU only; the
            first call per shape compiles, which takes tens of seconds).
    """
    logits = model(inputs)
    batch = logits.shape[0]
    walk = _Walk(logits, params, engine_kernels(compiled, logits.device))
    G = logits.new_zeros(batch, walk.width)
    if not walk.width:
        return G
    chunk = (batch if logits.device.type == "cuda" else CPU_CHUNK) if chunk is None else chunk
    chunk = max(1, min(int(chunk), batch))
    start = 0
    with torch.no_grad():
        while start < batch:
            stop = min(start + chunk, batch)
            try:
                _backward_chunk(walk, start, stop, G)
            except RuntimeError as err:  # torch.OutOfMemoryError is a RuntimeError
                if chunk == 1 or not is_out_of_memory(err):
                    raise
                chunk = max(1, chunk // 2)
                if logits.device.type == "cuda":
                    torch.cuda.empty_cache()
                continue
            start = stop
    return G
