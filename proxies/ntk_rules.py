"""The VJP rules of the 'graph' NTK engine (`ntk_engine`): one per autograd node type.

A rule gets the engine's walk (per-node constants, kernels, fused ReLU masks), the node and its
cotangent ``g`` (forward shape + (c,), the chunk LAST) and returns one cotangent (chunk last) or
None per ``node.next_functions`` entry, or None as a whole when the node is outside the rule's
cases (then `call_node`, the generic fallback, runs). Each reproduces autograd's backward of
that node exactly; tests/test_ntk.py checks kappa against the per-sample oracle.
"""

from __future__ import annotations

import math

import torch

from proxies import ntk_kernels as K

#: im2col matrices up to this many elements (16 MB of float32) are kept for all chunks; larger
#: ones are rebuilt per chunk so that peak memory stays bounded on wide networks.
COLS_CACHE_ELEMENTS = 4 * 2**20


def conv_geometry(node) -> K.ConvGeometry | None:
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


def bn_supported(node) -> bool:
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
    geometry = conv_geometry(node)
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
    if not bn_supported(node):
        return None
    xhat, scale = _bn_constants(walk, node)
    dx, _, _, dgamma, dbeta = walk.kernels.batch_norm_backward(
        g.contiguous(), xhat, scale, wants[0]
    )
    return [dx, dgamma if wants[1] else None, dbeta if wants[2] else None]


def fused_batch_norm_conv(walk, bn, conv, g):
    """BN's backward and then its producing conv's, as one step: returns (target, cotangent) pairs."""
    bn_wants = [nxt is not None and nxt in walk.needed for nxt, _ in bn.next_functions]
    conv_wants = [nxt is not None and nxt in walk.needed for nxt, _ in conv.next_functions]
    geometry = conv_geometry(conv)
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


RULES = {
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


def call_node(node, g):
    """Fallback for nodes without a rule: the autograd node itself, once per cotangent."""
    rows = []
    for i in range(g.shape[-1]):
        res = node(g[..., i].contiguous())
        rows.append(res if isinstance(res, tuple) else (res,))
    return [
        None if rows[0][k] is None else torch.stack([r[k] for r in rows], dim=-1)
        for k in range(len(rows[0]))
    ]
