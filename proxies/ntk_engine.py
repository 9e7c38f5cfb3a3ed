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
model works; only speed depends on the rules.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from proxies import ntk_kernels as K

#: Cotangents per chunk on CPU: one chunk of the widest tenas activation (72 x 3 x 32 x 32 x 8
#: floats, 7 MB) stays in the last-level cache; 4-8 measured best (benchmarks/bench_ntk.py).
CPU_CHUNK = 8
#: im2col matrices up to this many elements (16 MB of float32) are kept for all chunks; larger
#: ones are rebuilt per chunk so that peak memory stays bounded on wide networks.
COLS_CACHE_ELEMENTS = 4 * 2**20


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
                    and _conv_geometry(node) is not None
                ):  # else the fallback runs, without the mask
                    self.fused_relu.add(first)
            elif name == "NativeBatchNormBackward0":
                conv = node.next_functions[0][0]
                if (
                    type(conv).__name__ == "ConvolutionBackward0"
                    and consumers.get(conv) == 1
                    and _conv_geometry(conv) is not None
                    and _bn_supported(node)
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


# ------------------------------------------------------------------------------ VJP rules
# rule(walk, node, g, wants) -> one cotangent (chunk last) or None per node.next_functions entry,
# or None as a whole when the node is outside the rule's cases (then the generic fallback runs).


def _conv_geometry(node) -> K.ConvGeometry | None:
    x, w = node._saved_input, node._saved_weight
    if (
        node._saved_transposed
        or x is None
        or w is None
        or x.dim() != 4
        or node._saved_groups != 1
        or any(node._saved_output_padding)
    ):
        return None
    return K.ConvGeometry(
        tuple(x.shape),
        tuple(w.shape),
        tuple(node._saved_stride),
        tuple(node._saved_padding),
        tuple(node._saved_dilation),
    )


def _bn_supported(node) -> bool:
    return (
        bool(node._saved_training)
        and node._saved_weight is not None
        and node._saved_input.dim() >= 2
    )


def _conv_outputs(walk, node, geometry, g, padded, rows, wants):
    """Weight gradient from `rows` (the cotangent as (B*L, Cout*c)) and the grad-input from `padded`
    (the cotangent padded as the conv's plan asks)."""
    out = [None, None, None]
    if wants[1]:
        x = node._saved_input
        if x.numel() * geometry.w_shape[2] * geometry.w_shape[3] <= COLS_CACHE_ELEMENTS:
            cols = walk.constant(node, "cols", lambda: K.im2col(x, geometry))
        else:  # big layers (the C=16 benchmark net): recompute per chunk rather than hold GBs
            cols = K.im2col(x, geometry)
        out[1] = walk.kernels.conv_grad_weight_rows(rows, cols, geometry)
    if wants[0]:
        relu = node.next_functions[0][0]
        mask = _relu_mask(walk, relu, g.dtype) if relu in walk.fused_relu else None
        out[0] = walk.kernels.conv_grad_input(g, padded, node._saved_weight, geometry, mask)
    return out


def _rule_conv(walk, node, g, wants):
    geometry = _conv_geometry(node)
    if geometry is None:
        return None
    g = g.contiguous()
    plan = walk.kernels.conv_plan(geometry)
    padded = walk.kernels.pad_for(g, plan) if wants[0] else None
    rows = K.to_rows(g) if wants[1] else None
    return _conv_outputs(walk, node, geometry, g, padded, rows, wants)


def _bn_constants(walk, node):
    x = node._saved_input
    xhat = walk.constant(
        node, "xhat", lambda: K.normalized_input(x, node._saved_result1, node._saved_result2)
    )
    scale = walk.constant(node, "scale", lambda: node._saved_weight * node._saved_result2)
    return xhat, scale


def _rule_batch_norm(walk, node, g, wants):
    if not _bn_supported(node):
        return None
    xhat, scale = _bn_constants(walk, node)
    dx, _, _, dgamma, dbeta = walk.kernels.batch_norm_backward(
        g.contiguous(), xhat, scale, wants[0]
    )
    return [dx, dgamma if wants[1] else None, dbeta if wants[2] else None]


def _fused_batch_norm_conv(walk, bn, conv, g):
    """BN's backward and then its producing conv's, as one step: returns (target, cotangent) pairs."""
    bn_wants = [nxt is not None and nxt in walk.needed for nxt, _ in bn.next_functions]
    conv_wants = [nxt is not None and nxt in walk.needed for nxt, _ in conv.next_functions]
    geometry = _conv_geometry(conv)
    plan = walk.kernels.conv_plan(geometry)
    xhat, scale = _bn_constants(walk, bn)
    dz, padded, rows, dgamma, dbeta = walk.kernels.batch_norm_backward(
        g.contiguous(), xhat, scale, True, plan=plan if conv_wants[0] else None, rows=conv_wants[1]
    )
    emitted = [
        (bn.next_functions[1][0], dgamma if bn_wants[1] else None),
        (bn.next_functions[2][0], dbeta if bn_wants[2] else None),
    ]
    outs = _conv_outputs(walk, conv, geometry, dz, padded, rows, conv_wants)
    emitted += [(nxt, out) for (nxt, _), out in zip(conv.next_functions, outs)]
    return emitted


def _relu_mask(walk, node, dtype):
    return walk.constant(node, "mask", lambda: (node._saved_result > 0).to(dtype).unsqueeze(-1))


def _rule_relu(walk, node, g, wants):
    if node in walk.fused_relu:
        return [g]  # the consuming conv already applied the mask
    return [g * _relu_mask(walk, node, g.dtype)]


def _rule_add(walk, node, g, wants):
    alpha = node._saved_alpha
    return [g, g if alpha == 1 else g * alpha]


def _rule_mul(walk, node, g, wants):
    self_, other = node._saved_self, node._saved_other
    out = [None, None]
    if wants[0]:
        if other is None:
            return None
        if other.dim() == 0:
            value = float(other)
            out[0] = None if value == 0.0 else g * value  # x * 0 (the `none` op): exactly zero
        else:
            out[0] = (g * other.unsqueeze(-1)).sum_to_size(*self_.shape, g.shape[-1])
    if wants[1]:
        if self_ is None:
            return None
        prod = g * self_.unsqueeze(-1) if self_.dim() else g * float(self_)
        out[1] = prod.sum_to_size(*other.shape, g.shape[-1])
    return out


def _rule_avg_pool(walk, node, g, wants):
    x = node._saved_self
    if x.dim() != 4 or node._saved_ceil_mode or node._saved_divisor_override is not None:
        return None
    kernel, stride, padding = (
        tuple(node._saved_kernel_size),
        tuple(node._saved_stride),
        tuple(node._saved_padding),
    )
    include_pad = node._saved_count_include_pad
    if kernel == (3, 3) and stride == (1, 1) and padding == (1, 1):
        inv = walk.constant(
            node, "inv_count", lambda: K.pool_inverse_count(x.shape[2:], include_pad, x)
        )
        return [walk.kernels.box3_backward(g.contiguous(), inv)]
    if (
        kernel == stride
        and padding == (0, 0)
        and x.shape[2] % kernel[0] == 0
        and x.shape[3] % kernel[1] == 0
    ):
        return [walk.kernels.block_pool_backward(g.contiguous(), kernel)]
    return None


def _rule_mean(walk, node, g, wants):
    sizes = tuple(node._saved_self_sym_sizes)
    dims = sorted(d % len(sizes) for d in node._saved_dim)
    if not node._saved_keepdim:
        for d in dims:
            g = g.unsqueeze(d)
    count = math.prod(sizes[d] for d in dims)
    return [(g / count).expand(*sizes, g.shape[-1])]


def _rule_view(walk, node, g, wants):
    return [g.reshape(*node._saved_self_sym_sizes, g.shape[-1])]


def _rule_t(walk, node, g, wants):
    return [g.transpose(0, 1)]


def _rule_addmm(walk, node, g, wants):
    if wants[0]:
        return None  # a bias that leads to NTK parameters: rare, leave it to the fallback
    mat1, mat2, alpha = node._saved_mat1, node._saved_mat2, node._saved_alpha
    out = [None, None, None]
    if wants[1]:
        out[1] = torch.matmul(mat2, g) * alpha  # (K, N) @ (B, N, c) -> (B, K, c)
    if wants[2]:
        rows, n = mat1.shape[1], g.shape[1]
        out[2] = (mat1.t() @ g.reshape(g.shape[0], -1)).reshape(rows, n, g.shape[-1]) * alpha
    return out


def _rule_mm(walk, node, g, wants):
    self_, mat2 = node._saved_self, node._saved_mat2
    out = [None, None]
    if wants[0]:
        if mat2 is None:
            return None
        out[0] = torch.matmul(mat2, g)  # (K, N) @ (B, N, c) -> (B, K, c)
    if wants[1]:
        if self_ is None:
            return None
        out[1] = (self_.t() @ g.reshape(g.shape[0], -1)).reshape(
            self_.shape[1], g.shape[1], g.shape[-1]
        )
    return out


def _rule_constant_pad(walk, node, g, wants):
    pad = list(node._saved_pad)
    index = [slice(None)] * g.dim()
    for k in range(len(pad) // 2):
        dim = g.dim() - 2 - k  # pads apply from the last forward dim backwards; chunk is last
        before, after = pad[2 * k], pad[2 * k + 1]
        if before < 0 or after < 0:
            return None
        index[dim] = slice(before, g.shape[dim] - after)
    return [g[tuple(index)]]


def _rule_slice(walk, node, g, wants):
    sizes = tuple(node._saved_self_sym_sizes)
    dim = node._saved_dim % len(sizes)
    start, end, step = node._saved_start, node._saved_end, node._saved_step
    out = g.new_zeros(*sizes, g.shape[-1])
    index = [slice(None)] * out.dim()
    index[dim] = slice(start, end, step)
    out[tuple(index)] = g
    return [out]


_RULES = {
    "ConvolutionBackward0": _rule_conv,
    "NativeBatchNormBackward0": _rule_batch_norm,
    "ReluBackward0": _rule_relu,
    "AddBackward0": _rule_add,
    "MulBackward0": _rule_mul,
    "AvgPool2DBackward0": _rule_avg_pool,
    "MeanBackward1": _rule_mean,
    "ViewBackward0": _rule_view,
    "ReshapeAliasBackward0": _rule_view,
    "UnsafeViewBackward0": _rule_view,
    "TBackward0": _rule_t,
    "AddmmBackward0": _rule_addmm,
    "MmBackward0": _rule_mm,
    "ConstantPadNdBackward0": _rule_constant_pad,
    "SliceBackward0": _rule_slice,
}


def _call_node(node, g):
    """Fallback for nodes without a rule: the autograd node itself, once per cotangent."""
    rows = []
    for i in range(g.shape[-1]):
        res = node(g[..., i].contiguous())
        rows.append(res if isinstance(res, tuple) else (res,))
    return [
        None if rows[0][k] is None else torch.stack([r[k] for r in rows], dim=-1)
        for k in range(len(rows[0]))
    ]


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
            emitted = _fused_batch_norm_conv(walk, node, walk.bn_conv[node], g)
        else:
            wants = [nxt is not None and nxt in walk.needed for nxt, _ in node.next_functions]
            rule = _RULES.get(type(node).__name__)
            outs = rule(walk, node, g, wants) if rule is not None else None
            if outs is None:
                outs = _call_node(node, g)
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
