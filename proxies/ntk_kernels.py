"""Batched VJP kernels for the NTK engine; every cotangent carries its chunk as the last dim.

`Kernels` holds eager implementations (any device). `compiled_kernels()` returns a variant whose
hot kernels for small layers are compiled by inductor (CPU): with the chunk innermost, one
shifted 3x3 window of a cotangent is a contiguous run of W*c floats, so a transposed
convolution becomes a loop of aligned vector FMAs (45 GFLOP/s on one core for 3 channels, where
oneDNN's kernels reach 5-15). Compilation is specialised per shape and costs ~5-15 s per
shape the first time in a process (inductor's on-disk cache makes later processes faster).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import torch
import torch.nn.functional as F

#: Layers with at most this many input x output channels use the compiled direct kernels;
#: wider ones stay on oneDNN, which is efficient from ~12 channels on (measured, c=8).
DIRECT_MAX_CHANNELS = 6 * 12


@dataclass(frozen=True)
class ConvGeometry:
    """Static shape facts of one 2-D convolution (groups=1)."""

    x_shape: tuple[int, ...]
    w_shape: tuple[int, ...]
    stride: tuple[int, int]
    padding: tuple[int, int]
    dilation: tuple[int, int]

    @property
    def out_hw(self) -> tuple[int, int]:
        return tuple(
            (size + 2 * p - d * (k - 1) - 1) // s + 1
            for size, k, s, p, d in zip(
                self.x_shape[2:], self.w_shape[2:], self.stride, self.padding, self.dilation
            )
        )

    @property
    def pointwise(self) -> bool:
        return self.w_shape[2:] == (1, 1) and self.stride == (1, 1) and self.padding == (0, 0)


def im2col(x: torch.Tensor, geo: ConvGeometry) -> torch.Tensor:
    """(Cin*kh*kw, B*L) patches of the forward input, rows in the weight's flattening order."""
    if geo.pointwise:
        cols = x.reshape(x.shape[0], x.shape[1], -1)
    else:
        cols = F.unfold(x, geo.w_shape[2:], geo.dilation, geo.padding, geo.stride)
    return cols.transpose(0, 1).reshape(cols.shape[1], -1)


def normalized_input(x: torch.Tensor, mean: torch.Tensor, invstd: torch.Tensor) -> torch.Tensor:
    """BN's x̂ = (x - mean) * invstd with the statistics saved by the forward pass."""
    shape = [1, -1] + [1] * (x.dim() - 2)
    return (x - mean.reshape(shape)) * invstd.reshape(shape)


def pool_inverse_count(hw, include_pad: bool, like: torch.Tensor) -> torch.Tensor:
    """1 / (number of summed elements) of a 3x3, stride-1, padding-1 average pool, as (H, W, 1)."""
    h, w = hw
    if include_pad:
        count = like.new_full((h, w), 9.0)
    else:
        rows = like.new_full((h,), 3.0)
        cols = like.new_full((w,), 3.0)
        rows[0] -= 1.0
        rows[-1] -= 1.0
        cols[0] -= 1.0
        cols[-1] -= 1.0
        if h == 1:
            rows[:] = 1.0
        if w == 1:
            cols[:] = 1.0
        count = rows[:, None] * cols[None, :]
    return (1.0 / count).unsqueeze(-1)


def block_pool_backward(g: torch.Tensor, kernel) -> torch.Tensor:
    """Backward of a non-overlapping k x k average pool (stride k, no padding): g / k² spread
    over each block, written one block offset at a time (copying the broadcast view in one go
    takes 1.8x as long on CPU: 32-byte runs in a 7-d iterator)."""
    kh, kw = kernel
    b, ch, ho, wo, c = g.shape
    share = g / (kh * kw)
    out = g.new_empty(b, ch, ho, kh, wo, kw, c)
    for i in range(kh):
        for j in range(kw):
            out[:, :, :, i, :, j] = share
    return out.view(b, ch, ho * kh, wo * kw, c)


def _block_pool_backward_fused(g: torch.Tensor, kernel) -> torch.Tensor:
    """The same as one expression, for inductor (one pass at copy speed, 13x the eager loop)."""
    kh, kw = kernel
    b, ch, ho, wo, c = g.shape
    spread = (g / (kh * kw))[:, :, :, None, :, None, :].expand(b, ch, ho, kh, wo, kw, c)
    return spread.reshape(b, ch, ho * kh, wo * kw, c)


def to_rows(g: torch.Tensor) -> torch.Tensor:
    """(B*H*W, C*c) view of a (B, C, H, W, c) cotangent: the K x N operand of a weight GEMM."""
    b, ch, c = g.shape[0], g.shape[1], g.shape[-1]
    return g.reshape(b, ch, -1, c).permute(0, 2, 1, 3).reshape(-1, ch * c)


@dataclass(frozen=True)
class ConvPlan:
    """How a conv's grad-input is computed: ``pointwise`` (a matmul), ``library`` (oneDNN/cuDNN)
    or ``direct`` (compiled shifted-window sums over a cotangent padded by ``pads``)."""

    kind: str
    taps: tuple | None = None
    pads: tuple[int, int, int, int] | None = None  # (top, bottom, left, right)


# --------------------------------------------------------------------------- eager kernels


class Kernels:
    """Eager batched VJPs (all devices). Cotangents are (forward shape..., c), contiguous."""

    name = "eager"

    def conv_plan(self, geo: ConvGeometry) -> ConvPlan:
        return ConvPlan("pointwise" if geo.pointwise else "library")

    def pad_for(self, g: torch.Tensor, plan: ConvPlan) -> torch.Tensor | None:
        if plan.kind != "direct":
            return None
        top, bottom, left, right = plan.pads
        return F.pad(g, (0, 0, left, right, top, bottom))

    def conv_grad_weight_rows(
        self, rows: torch.Tensor, cols: torch.Tensor, geo: ConvGeometry
    ) -> torch.Tensor:
        """(Cout, Cin, kh, kw, c) = im2col (Cin*kh*kw, B*L) @ cotangent rows (B*L, Cout*c): the
        whole chunk in one GEMM with the long (batch x pixels) dimension as K."""
        cout = geo.w_shape[0]
        dw = cols @ rows
        return dw.reshape(geo.w_shape[1], *geo.w_shape[2:], cout, -1).permute(3, 0, 1, 2, 4)

    def conv_grad_input(
        self,
        g: torch.Tensor,
        padded: torch.Tensor | None,
        w: torch.Tensor,
        geo: ConvGeometry,
        mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """(B, Cin, H, W, c): the transposed convolution of each cotangent, times `mask` if given
        (the 0/1 mask of a ReLU feeding the conv, shape (B, Cin, H, W, 1))."""
        b, cout, c = g.shape[0], g.shape[1], g.shape[-1]
        cin = w.shape[1]
        h, wd = geo.x_shape[2:]
        if geo.pointwise:
            wt = (
                w.reshape(cout, cin).t().contiguous().expand(b, cin, cout)
            )  # bmm is slow on a transposed w
            out = torch.bmm(wt, g.reshape(b, cout, -1)).reshape(b, cin, h, wd, c)
        else:
            out = _grad_input_library(g, w, geo)
        return out if mask is None else out.mul_(mask)

    def batch_norm_backward(
        self,
        g: torch.Tensor,
        xhat: torch.Tensor,
        scale: torch.Tensor,
        want_input: bool,
        plan: ConvPlan | None = None,
        rows: bool = False,
    ):
        """Train-mode BN backward for every cotangent: (dx, dx padded for `plan`, dx as GEMM rows,
        dγ, dβ); dγ and dβ are (C, c); the extra layouts are None unless asked for."""
        dx, dgamma, dbeta = _bn_backward(g, xhat, scale, want_input)
        padded = self.pad_for(dx, plan) if plan is not None else None
        return dx, padded, to_rows(dx) if rows else None, dgamma, dbeta

    def box3_backward(self, g: torch.Tensor, inv_count: torch.Tensor) -> torch.Tensor:
        """Backward of a 3x3, stride-1, padding-1 average pool: box sum of g / count."""
        return _box3(F.pad(g * inv_count, (0, 0, 1, 1, 1, 1)))

    def block_pool_backward(self, g: torch.Tensor, kernel: tuple[int, int]) -> torch.Tensor:
        """Backward of a k x k, stride-k average pool (the ResNet blocks' shortcut)."""
        return block_pool_backward(g, kernel)


def _grad_input_library(g, w, geo):
    """oneDNN/cuDNN on the cotangents laid out as a batch of B*c images."""
    b, cout, ho, wo, c = g.shape
    cin = w.shape[1]
    h, wd = geo.x_shape[2:]
    images = g.permute(0, 4, 1, 2, 3).reshape(b * c, cout, ho, wo)
    if g.device.type == "cpu" and max(cin, cout) < 12:
        images = images.contiguous(memory_format=torch.channels_last)
    if geo.stride == (1, 1) and geo.dilation == (1, 1):
        flipped = w.transpose(0, 1).flip(2, 3)
        pad = tuple(k - 1 - p for k, p in zip(geo.w_shape[2:], geo.padding))
        if min(pad) >= 0:
            out = F.conv2d(images, flipped, None, 1, pad)
            return out.reshape(b, c, cin, h, wd).permute(0, 2, 3, 4, 1).contiguous()
    opad = tuple(
        size - ((o - 1) * s - 2 * p + d * (k - 1) + 1)
        for size, o, s, p, d, k in zip(
            (h, wd), (ho, wo), geo.stride, geo.padding, geo.dilation, geo.w_shape[2:]
        )
    )
    out = F.conv_transpose2d(images, w, None, geo.stride, geo.padding, opad, 1, geo.dilation)
    return out.reshape(b, c, cin, h, wd).permute(0, 2, 3, 4, 1).contiguous()


def _bn_backward(g, xhat, scale, want_input: bool):
    dims = (0,) + tuple(range(2, g.dim() - 1))
    shape = [1, -1] + [1] * (g.dim() - 2)  # per-channel, broadcast over spatial dims and chunk
    xh = xhat.unsqueeze(-1)
    dbeta = g.sum(dims)
    dgamma = (g * xh).sum(dims)
    if not want_input:
        return None, dgamma, dbeta
    n = g.numel() // (g.shape[1] * g.shape[-1])
    cshape = [1, g.shape[1]] + [1] * (g.dim() - 3) + [g.shape[-1]]
    mean_g = (dbeta / n).reshape(cshape)
    mean_gx = (dgamma / n).reshape(cshape)
    dx = (g - mean_g - xh * mean_gx) * scale.reshape(shape)
    return dx, dgamma, dbeta


def _bn_backward_layouts(g, xhat, scale, pads, rows: bool):
    """`_bn_backward` writing dx padded for a direct conv (then dx itself is not written) and as
    GEMM rows, in one pass."""
    dx, dgamma, dbeta = _bn_backward(g, xhat, scale, True)
    padded = None
    if pads is not None:
        top, bottom, left, right = pads
        padded = F.pad(dx, (0, 0, left, right, top, bottom))
    return None if pads is not None else dx, padded, to_rows(dx) if rows else None, dgamma, dbeta


def _box3(p: torch.Tensor) -> torch.Tensor:
    """3x3 box sum of a tensor padded by one pixel on each side (dims -3, -2 are H, W)."""
    rows = p[:, :, :-2] + p[:, :, 1:-1] + p[:, :, 2:]
    return rows[:, :, :, :-2] + rows[:, :, :, 1:-1] + rows[:, :, :, 2:]


def _direct_grad_input(
    gp: torch.Tensor, w: torch.Tensor, plan: tuple, mask: torch.Tensor | None
) -> torch.Tensor:
    """Transposed convolution as shifted-window sums over a pre-padded cotangent (chunk last).

    `plan` = (blocks, out_hw, strides): per output residue class (ry, rx) the list of taps
    (ky, kx, row offset, col offset, rows, cols) into `gp`. Written for inductor: every term
    reads a contiguous run of the innermost (W, c) dims.
    """
    blocks, (h, wd), (sy, sx) = plan
    b, c = gp.shape[0], gp.shape[-1]
    cin = w.shape[1]
    parts = []
    for taps, (rows, cols) in blocks:
        acc = None
        for ky, kx, oy, ox in taps:
            window = gp[:, :, None, oy : oy + rows, ox : ox + cols, :]
            term = (window * w[None, :, :, ky, kx, None, None, None]).sum(1)
            acc = term if acc is None else acc + term
        if acc is None:
            acc = gp.new_zeros(b, cin, rows, cols, c)
        parts.append(acc)
    if sy == sx == 1:
        out = parts[0]
    else:
        grid = torch.stack(
            [torch.stack(parts[ry * sx : (ry + 1) * sx], dim=4) for ry in range(sy)], dim=3
        )
        out = grid.reshape(b, cin, h, wd, c)
    return out if mask is None else out * mask


def _axis_taps(size, out, k, s, p, d):
    """Per residue r of the input axis: [(tap, offset into g)], rows in the class, and padding."""
    classes = []
    for r in range(s):
        count = -(-(size - r) // s) if size > r else 0
        taps = [(t, (r + p - t * d) // s) for t in range(k) if (r + p - t * d) % s == 0]
        classes.append((taps, count))
    offs = [off for taps, _ in classes for _, off in taps] or [0]
    lo = max(0, -min(offs))
    hi = (
        max(0, max(count - 1 + off for taps, count in classes for _, off in taps) - (out - 1))
        if offs
        else 0
    )
    return classes, lo, hi


@functools.cache
def _direct_plan(geo: ConvGeometry):
    """Static tap plan of `_direct_grad_input`, or None if the shape does not suit it."""
    h, wd = geo.x_shape[2:]
    ho, wo = geo.out_hw
    (kh, kw), (sy, sx) = geo.w_shape[2:], geo.stride
    if h % sy or wd % sx:
        return None
    ys, ylo, yhi = _axis_taps(h, ho, kh, sy, geo.padding[0], geo.dilation[0])
    xs, xlo, xhi = _axis_taps(wd, wo, kw, sx, geo.padding[1], geo.dilation[1])
    blocks = []
    for taps_y, rows in ys:
        for taps_x, cols in xs:
            taps = tuple((ty, tx, oy + ylo, ox + xlo) for ty, oy in taps_y for tx, ox in taps_x)
            blocks.append((taps, (rows, cols)))
    return (tuple(blocks), (h, wd), (sy, sx)), (ylo, yhi, xlo, xhi)


class CompiledKernels(Kernels):
    """`Kernels` with inductor-compiled small-layer kernels (CPU)."""

    name = "compiled"

    def __init__(self):
        compile_ = functools.partial(torch.compile, dynamic=False)
        self._direct = compile_(_direct_grad_input)
        self._bn = compile_(_bn_backward)
        self._bn_layouts = compile_(_bn_backward_layouts)
        self._box = compile_(_box3)
        self._block_pool = compile_(_block_pool_backward_fused)

    def conv_plan(self, geo):
        planned = _direct_plan(geo)
        if (
            geo.pointwise
            or planned is None
            or geo.w_shape[0] * geo.w_shape[1] > DIRECT_MAX_CHANNELS
        ):
            return super().conv_plan(geo)
        taps, pads = planned
        return ConvPlan("direct", taps, pads)

    def conv_grad_input(self, g, padded, w, geo, mask=None):
        plan = self.conv_plan(geo)
        if plan.kind != "direct":
            return super().conv_grad_input(g, padded, w, geo, mask)
        return _run(self._direct, padded, w, plan.taps, mask)

    def batch_norm_backward(self, g, xhat, scale, want_input, plan=None, rows=False):
        if not want_input:
            dx, dgamma, dbeta = _run(self._bn, g, xhat, scale, False)
            return dx, None, None, dgamma, dbeta
        pads = plan.pads if plan is not None and plan.kind == "direct" else None
        if pads is None and not rows:
            dx, dgamma, dbeta = _run(self._bn, g, xhat, scale, True)
            return dx, None, None, dgamma, dbeta
        dx, padded, rows_, dgamma, dbeta = _run(self._bn_layouts, g, xhat, scale, pads, rows)
        if dx is None:
            top, _, left, _ = pads
            dx = padded[:, :, top : top + g.shape[2], left : left + g.shape[3]]
        return dx, padded, rows_, dgamma, dbeta

    def box3_backward(self, g, inv_count):
        return _run(self._box, F.pad(g * inv_count, (0, 0, 1, 1, 1, 1)))

    def block_pool_backward(self, g, kernel):
        return _run(self._block_pool, g.contiguous(), tuple(kernel))


def _compile_errors() -> tuple[type[BaseException], ...]:
    import torch._dynamo.exc
    import torch._inductor.exc

    names = ("BackendCompilerFailed", "InductorError", "CppCompileError")
    found = [
        getattr(m, n)
        for m in (torch._dynamo.exc, torch._inductor.exc)
        for n in names
        if hasattr(m, n)
    ]
    return tuple(found) or (RuntimeError,)


_COMPILE_ERRORS = _compile_errors()


def _run(compiled, *args):
    """Call a compiled kernel; a failure to compile says what to do instead."""
    try:
        with _recompile_budget():
            return compiled(*args)
    except _COMPILE_ERRORS as err:
        raise RuntimeError(
            f"the 'compiled' NTK engine could not compile its kernels with torch.compile "
            f"(inductor needs a working C++ compiler): {err}. Use the 'graph' engine, which "
            f"computes the same kernel without compiling."
        ) from err


def _recompile_budget():
    """Allow one specialisation per layer shape (a network has a handful; the default is 8)."""
    return torch._dynamo.config.patch(recompile_limit=256, accumulated_recompile_limit=4096)


EAGER = Kernels()


@functools.lru_cache(maxsize=1)
def compiled_kernels() -> CompiledKernels:
    return CompiledKernels()


__all__ = [
    "EAGER",
    "CompiledKernels",
    "ConvGeometry",
    "ConvPlan",
    "Kernels",
    "block_pool_backward",
    "compiled_kernels",
    "im2col",
    "normalized_input",
    "pool_inverse_count",
    "to_rows",
]
