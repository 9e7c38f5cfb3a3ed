"""The DARTS cell space: ops, genotypes in DARTS's own notation, and TE-NAS's search supernets.

A cell has two inputs (the outputs of the two previous cells, nodes 0 and 1) and four
intermediate nodes (2..5); the output concatenates the intermediate nodes. The search space has
one mixed op on each of the 14 edges ``i<-j`` (intermediate node i = 0..3 from input j = 0..i+1),
in the lexicographic order of those strings, which groups the edges by target node (docs/tenas-spec.md
§2). A final architecture (a *genotype*) keeps two (op, input) pairs per node, as DARTS writes it::

    Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ...], normal_concat=[2, 3, 4, 5],
             reduce=[...], reduce_concat=[2, 3, 4, 5])

The ops follow DARTS's ``operations.py`` (convs without bias, ReLU -> conv -> BN); the supernets
follow TE-NAS's ``NASNetworkDARTS`` / ``NASNetSearchCell`` (docs/tenas-spec.md §3). Evaluation networks
live in `harness.spaces.darts_net`.
"""

from __future__ import annotations

import ast
import json
import math
import re
from collections import namedtuple
from collections.abc import Sequence
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

from harness.errors import InputError, unknown_name
from harness.spaces.ops import Pooling, Zero

# ---- the space -------------------------------------------------------------------------------

OPS: tuple[str, ...] = (
    "none", "skip_connect", "sep_conv_3x3", "sep_conv_5x5",
    "dil_conv_3x3", "dil_conv_5x5", "avg_pool_3x3", "max_pool_3x3",
)
GENOTYPE_OPS: tuple[str, ...] = OPS[1:]  # `none` is never part of a final architecture
STEPS = 4  # intermediate nodes per cell
CELL_INPUTS = 2
# Edges as (intermediate node i, input j), in the order of the sorted strings "i<-j".
EDGES: tuple[tuple[int, int], ...] = tuple((i, j) for i in range(STEPS) for j in range(i + 2))
EDGE_NAMES: tuple[str, ...] = tuple(f"{i}<-{j}" for i, j in EDGES)
EDGE_INDEX: dict[tuple[int, int], int] = {edge: e for e, edge in enumerate(EDGES)}
# Incoming edges of each intermediate node as [start, stop) ranges: (0,2), (2,5), (5,9), (9,14).
NODE_EDGE_GROUPS: tuple[tuple[int, int], ...] = tuple(
    (EDGES.index((i, 0)), EDGES.index((i, i + 1)) + 1) for i in range(STEPS)
)
CELL_TYPES: tuple[str, ...] = ("normal", "reduce")
DEFAULT_CONCAT: tuple[int, ...] = (2, 3, 4, 5)
PRUNED_ALPHA = -1000.0  # TE-NAS's -INF for a pruned op
ACTIVE_WEIGHT_THRESHOLD = 0.01  # ops with softmax weight <= this are not computed

assert EDGE_NAMES == tuple(sorted(EDGE_NAMES))  # single-digit keys: index order == string order


def genotypes_per_cell() -> int:
    """Distinct cells a DARTS parse can produce: per node, 2 distinct inputs and a non-none op each."""
    return math.prod(math.comb(i + 2, 2) * len(GENOTYPE_OPS) ** 2 for i in range(STEPS))


# ---- genotypes -------------------------------------------------------------------------------

_GenotypeBase = namedtuple("Genotype", "normal normal_concat reduce reduce_concat")


def _bad(text: str, why: str) -> InputError:
    return InputError(f"invalid DARTS genotype {text}: {why}")


def _is_node(entry) -> bool:
    return (isinstance(entry, (list, tuple)) and len(entry) > 0
            and all(isinstance(p, (list, tuple)) for p in entry))


def _check_cell(kind: str, pairs, concat, shown: str) -> tuple[tuple[tuple[str, int], ...], tuple[int, ...]]:
    if isinstance(pairs, (str, bytes)) or not isinstance(pairs, Sequence):
        raise _bad(shown, f"{kind} must be a list of (op, input) pairs; got {pairs!r}.")
    pairs = list(pairs)
    if pairs and all(_is_node(p) for p in pairs):
        # pt.darts writes one list per node: [[(op, j), (op, j)], ...]; flatten it.
        pairs = [pair for node in pairs for pair in node]
    if len(pairs) != 2 * STEPS:
        raise _bad(shown, f"{kind} has {len(pairs)} (op, input) pairs; a DARTS cell has {STEPS} nodes "
                          f"with 2 inputs each, so exactly {2 * STEPS} pairs.")
    out = []
    for k, pair in enumerate(pairs):
        node = k // 2 + CELL_INPUTS
        if (isinstance(pair, (str, bytes)) or not isinstance(pair, Sequence) or len(pair) != 2
                or not isinstance(pair[0], str) or isinstance(pair[1], bool) or not isinstance(pair[1], int)):
            raise _bad(shown, f"{kind} entry {k} (node {node}) must be an (op name, input index) pair; "
                              f"got {pair!r}.")
        op, j = pair
        if op == "none":
            raise _bad(shown, f"{kind} node {node} uses 'none'; a final genotype keeps real ops only "
                              f"({', '.join(GENOTYPE_OPS)}).")
        if op not in GENOTYPE_OPS:
            raise _bad(shown, f"{kind} node {node} has op {op!r}; expected one of {', '.join(GENOTYPE_OPS)}.")
        if not 0 <= j < node:
            raise _bad(shown, f"{kind} node {node} takes input {j}; node {node} accepts inputs 0..{node - 1} "
                              f"(0, 1 = the cell inputs, 2.. = earlier nodes).")
        out.append((op, j))
    if isinstance(concat, (str, bytes)) or not isinstance(concat, (Sequence, range)):
        raise _bad(shown, f"{kind}_concat must be a list of node indices; got {concat!r}.")
    concat = list(concat)
    last = STEPS + CELL_INPUTS - 1
    if (not concat or len(set(concat)) != len(concat)
            or any(isinstance(c, bool) or not isinstance(c, int) or not 2 <= c <= last for c in concat)):
        raise _bad(shown, f"{kind}_concat {concat!r} must list distinct intermediate nodes in 2..{last}.")
    return tuple(out), tuple(concat)


class Genotype(_GenotypeBase):
    """A DARTS architecture: per cell type, two (op, input) pairs per intermediate node (2..5) in node
    order, and the nodes concatenated into the output. Validated on construction; ``str()`` gives
    DARTS's own notation, so it can be pasted into DARTS-derived code and back."""

    __slots__ = ()

    def __new__(cls, normal, normal_concat=DEFAULT_CONCAT, reduce=None, reduce_concat=DEFAULT_CONCAT):
        if reduce is None:
            raise InputError("invalid DARTS genotype: missing the reduce cell (reduce=[...]).")
        shown = f"(normal={normal!r}, reduce={reduce!r})"
        normal, normal_concat = _check_cell("normal", normal, normal_concat, shown)
        reduce, reduce_concat = _check_cell("reduce", reduce, reduce_concat, shown)
        return super().__new__(cls, normal, normal_concat, reduce, reduce_concat)

    def __str__(self) -> str:
        return (f"Genotype(normal={list(self.normal)!r}, normal_concat={list(self.normal_concat)!r}, "
                f"reduce={list(self.reduce)!r}, reduce_concat={list(self.reduce_concat)!r})")

    __repr__ = __str__

    def to_dict(self) -> dict:
        """JSON-ready form: lists of [op, input] pairs and concat lists."""
        return {
            "normal": [list(p) for p in self.normal], "normal_concat": list(self.normal_concat),
            "reduce": [list(p) for p in self.reduce], "reduce_concat": list(self.reduce_concat),
        }

    @classmethod
    def from_dict(cls, data: dict) -> Genotype:
        if not isinstance(data, dict) or not {"normal", "reduce"} <= set(data):
            raise InputError(f"invalid DARTS genotype JSON: expected an object with keys normal, "
                             f"normal_concat, reduce, reduce_concat; got {data!r}.")
        unknown = set(data) - set(cls._fields)
        if unknown:
            raise InputError(f"invalid DARTS genotype JSON: unknown keys {sorted(unknown)}; "
                             f"expected {', '.join(cls._fields)}.")
        pairs = {k: [tuple(p) if isinstance(p, list) else p for p in data[k]]
                 if isinstance(data[k], list) else data[k] for k in ("normal", "reduce")}
        return cls(pairs["normal"], data.get("normal_concat", DEFAULT_CONCAT),
                   pairs["reduce"], data.get("reduce_concat", DEFAULT_CONCAT))

    @classmethod
    def from_str(cls, text: str) -> Genotype:
        """Parse DARTS's notation (optionally ``NAME = Genotype(...)``); literals only, never `eval`."""
        return parse_genotype(text)

    def canonical(self) -> Genotype:
        """The same architecture with each node's two pairs sorted (node order within DARTS's notation
        is irrelevant), for comparing genotypes."""
        def norm(pairs):
            return [p for k in range(0, len(pairs), 2) for p in sorted(pairs[k:k + 2], key=lambda q: (q[1], q[0]))]
        return Genotype(norm(self.normal), sorted(self.normal_concat), norm(self.reduce), sorted(self.reduce_concat))

    def cell(self, kind: str) -> tuple[tuple[tuple[str, int], ...], tuple[int, ...]]:
        if kind not in CELL_TYPES:
            raise unknown_name("cell type", kind, CELL_TYPES)
        return (self.normal, self.normal_concat) if kind == "normal" else (self.reduce, self.reduce_concat)


_EXAMPLE = "Genotype(normal=[('sep_conv_3x3', 0), ...], normal_concat=[2, 3, 4, 5], reduce=[...], reduce_concat=[2, 3, 4, 5])"
_ASSIGN_RE = re.compile(r"^\s*[A-Za-z_]\w*\s*=\s*")


def _literal(node: ast.AST, text: str):
    # `range(2, 6)` is common in published genotypes; expand it without evaluating anything.
    if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "range"
            and not node.keywords and 1 <= len(node.args) <= 3):
        return list(range(*(_literal(a, text) for a in node.args)))
    try:
        return ast.literal_eval(node)
    except ValueError as err:
        raise _bad(repr(text), f"{ast.unparse(node)!r} is not a literal ({err}); expected e.g. {_EXAMPLE}.") from None


def parse_genotype(text: str) -> Genotype:
    """Parse ``Genotype(normal=[...], normal_concat=[...], reduce=[...], reduce_concat=[...])``.

    The call is read with `ast` and every argument with `ast.literal_eval` (plus ``range(a, b)``),
    so pasted text can never run code. Positional arguments follow the namedtuple's field order.
    """
    if not isinstance(text, str):
        raise InputError(f"a DARTS genotype must be given as text; got {type(text).__name__} {text!r}.")
    source = _ASSIGN_RE.sub("", text.strip(), count=1)
    try:
        tree = ast.parse(source, mode="eval").body
    except SyntaxError as err:
        raise _bad(repr(text), f"not valid Python syntax ({err.msg}); expected {_EXAMPLE}.") from None
    if not (isinstance(tree, ast.Call) and isinstance(tree.func, (ast.Name, ast.Attribute))
            and (tree.func.id if isinstance(tree.func, ast.Name) else tree.func.attr) == "Genotype"):
        raise _bad(repr(text), f"expected a single Genotype(...) call like {_EXAMPLE}.")
    fields = Genotype._fields
    if len(tree.args) > len(fields):
        raise _bad(repr(text), f"Genotype takes at most {len(fields)} arguments ({', '.join(fields)}).")
    values = {name: _literal(arg, text) for name, arg in zip(fields, tree.args)}
    for kw in tree.keywords:
        if kw.arg not in fields:
            raise _bad(repr(text), f"unknown field {kw.arg!r}; expected {', '.join(fields)}.")
        if kw.arg in values:
            raise _bad(repr(text), f"field {kw.arg!r} is given twice.")
        values[kw.arg] = _literal(kw.value, text)
    missing = [f for f in ("normal", "reduce") if f not in values]
    if missing:
        raise _bad(repr(text), f"missing field(s) {', '.join(missing)}.")
    return Genotype(values["normal"], values.get("normal_concat", DEFAULT_CONCAT),
                    values["reduce"], values.get("reduce_concat", DEFAULT_CONCAT))


def format_genotype(genotype: Genotype) -> str:
    return str(genotype)


# Published genotypes. TENAS_* from chenwydj/DARTS_evaluation genotypes.py as transcribed in
# docs/tenas-spec.md §13 (inputs 0/1 = cell inputs, 2.. = earlier nodes); DARTS_V2 from quark0/darts.
GENOTYPES: dict[str, Genotype] = {
    "TENAS_cifar10": Genotype(
        normal=[("dil_conv_3x3", 0), ("sep_conv_5x5", 1), ("sep_conv_3x3", 0), ("sep_conv_3x3", 2),
                ("skip_connect", 0), ("dil_conv_5x5", 1), ("sep_conv_3x3", 1), ("sep_conv_5x5", 3)],
        normal_concat=[2, 3, 4, 5],
        reduce=[("sep_conv_5x5", 0), ("sep_conv_5x5", 1), ("sep_conv_5x5", 1), ("sep_conv_5x5", 2),
                ("sep_conv_3x3", 1), ("sep_conv_3x3", 3), ("sep_conv_5x5", 2), ("sep_conv_3x3", 4)],
        reduce_concat=[2, 3, 4, 5],
    ),
    "TENAS_imagenet": Genotype(
        normal=[("sep_conv_3x3", 0), ("skip_connect", 1), ("dil_conv_5x5", 1), ("sep_conv_3x3", 2),
                ("sep_conv_3x3", 0), ("dil_conv_5x5", 3), ("sep_conv_3x3", 0), ("dil_conv_3x3", 4)],
        normal_concat=[2, 3, 4, 5],
        reduce=[("dil_conv_3x3", 0), ("sep_conv_5x5", 1), ("dil_conv_3x3", 0), ("sep_conv_3x3", 2),
                ("sep_conv_3x3", 0), ("dil_conv_3x3", 1), ("sep_conv_3x3", 0), ("sep_conv_5x5", 4)],
        reduce_concat=[2, 3, 4, 5],
    ),
    "DARTS_V2": Genotype(
        normal=[("sep_conv_3x3", 0), ("sep_conv_3x3", 1), ("sep_conv_3x3", 0), ("sep_conv_3x3", 1),
                ("sep_conv_3x3", 1), ("skip_connect", 0), ("skip_connect", 0), ("dil_conv_3x3", 2)],
        normal_concat=[2, 3, 4, 5],
        reduce=[("max_pool_3x3", 0), ("max_pool_3x3", 1), ("skip_connect", 2), ("max_pool_3x3", 1),
                ("max_pool_3x3", 0), ("skip_connect", 2), ("skip_connect", 2), ("max_pool_3x3", 1)],
        reduce_concat=[2, 3, 4, 5],
    ),
}


def load_genotype(spec) -> Genotype:
    """A `Genotype` from a shipped name, a file (DARTS notation or JSON), or the notation itself."""
    if isinstance(spec, Genotype):
        return spec
    if isinstance(spec, dict):
        return Genotype.from_dict(spec)
    if isinstance(spec, Path):
        spec = str(spec)
    if not isinstance(spec, str):
        raise InputError(f"cannot read a DARTS genotype from {spec!r}; give a name, a file or Genotype(...) text.")
    text = spec.strip()
    if text in GENOTYPES:
        return GENOTYPES[text]
    if "Genotype" in text and "(" in text:
        return parse_genotype(text)
    if text.startswith("{"):
        return _from_json(text, "the given text")
    path = Path(text).expanduser()
    if path.is_file():
        content = path.read_text(encoding="utf-8").strip()
        if content.startswith("{"):
            return _from_json(content, str(path))
        if "Genotype" not in content:
            raise InputError(f"genotype file {str(path)!r} holds neither JSON nor a Genotype(...) expression.")
        return parse_genotype(content)
    if re.fullmatch(r"[A-Za-z_]\w*", text):
        raise unknown_name("DARTS genotype", text, GENOTYPES)
    raise InputError(f"cannot read a DARTS genotype from {spec!r}: not a shipped name "
                     f"({', '.join(sorted(GENOTYPES))}), an existing file, or Genotype(...) text.")


def _from_json(text: str, where: str) -> Genotype:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise InputError(f"invalid DARTS genotype JSON in {where}: {err}.") from None
    # A search's result.json carries the genotype under "genotype", as text or as an object.
    if isinstance(data, dict) and "genotype" in data:
        data = data["genotype"]
        if isinstance(data, str):
            return parse_genotype(data)
    return Genotype.from_dict(data)


def describe() -> dict:
    """Summary of the space for `harness spaces`."""
    per_cell = genotypes_per_cell()
    return {
        "space": "darts",
        "ops": list(OPS),
        "edges": list(EDGE_NAMES),
        "nodes": STEPS,
        "cell_inputs": CELL_INPUTS,
        "cell_types": list(CELL_TYPES),
        "node_edge_groups": [list(g) for g in NODE_EDGE_GROUPS],
        "genotypes_per_cell": per_cell,
        "genotypes": per_cell ** 2,
        "counting": "per node 2 distinct inputs x 7 non-none ops each (order within a node ignored); "
                    "normal and reduce cells independent",
        "shipped_genotypes": sorted(GENOTYPES),
    }


# ---- ops (DARTS operations.py; convs never have a bias) --------------------------------------

class ReLUConvBN(nn.Module):
    """DARTS's ReLU -> conv (no bias) -> BN."""

    def __init__(self, C_in, C_out, kernel_size, stride, padding, affine=True, track=True):
        super().__init__()
        self.op = nn.Sequential(
            nn.ReLU(inplace=False),
            nn.Conv2d(C_in, C_out, kernel_size, stride=stride, padding=padding, bias=False),
            nn.BatchNorm2d(C_out, affine=affine, track_running_stats=track),
        )

    def forward(self, x):
        return self.op(x)


class DilConv(nn.Module):
    """ReLU -> dilated depthwise conv -> pointwise conv -> BN."""

    def __init__(self, C_in, C_out, kernel_size, stride, padding, dilation, affine=True, track=True):
        super().__init__()
        self.op = nn.Sequential(
            nn.ReLU(inplace=False),
            nn.Conv2d(C_in, C_in, kernel_size, stride=stride, padding=padding, dilation=dilation,
                      groups=C_in, bias=False),
            nn.Conv2d(C_in, C_out, 1, padding=0, bias=False),
            nn.BatchNorm2d(C_out, affine=affine, track_running_stats=track),
        )

    def forward(self, x):
        return self.op(x)


class SepConv(nn.Module):
    """Two stacked (ReLU -> depthwise -> pointwise -> BN) blocks; only the first is strided."""

    def __init__(self, C_in, C_out, kernel_size, stride, padding, affine=True, track=True):
        super().__init__()
        self.op = nn.Sequential(
            nn.ReLU(inplace=False),
            nn.Conv2d(C_in, C_in, kernel_size, stride=stride, padding=padding, groups=C_in, bias=False),
            nn.Conv2d(C_in, C_in, 1, padding=0, bias=False),
            nn.BatchNorm2d(C_in, affine=affine, track_running_stats=track),
            nn.ReLU(inplace=False),
            nn.Conv2d(C_in, C_in, kernel_size, stride=1, padding=padding, groups=C_in, bias=False),
            nn.Conv2d(C_in, C_out, 1, padding=0, bias=False),
            nn.BatchNorm2d(C_out, affine=affine, track_running_stats=track),
        )

    def forward(self, x):
        return self.op(x)


class FactorizedReduce(nn.Module):
    """DARTS's stride-2 skip: ReLU, two 1x1 stride-2 convs offset by one pixel, concat, BN.

    On odd sizes DARTS's slicing gives mismatched halves; like AutoDL we pad one zero row/column
    first, which leaves the result on even sizes (all of DARTS's own networks) unchanged.
    """

    def __init__(self, C_in, C_out, affine=True, track=True):
        super().__init__()
        self.relu = nn.ReLU(inplace=False)
        self.conv_1 = nn.Conv2d(C_in, C_out // 2, 1, stride=2, padding=0, bias=False)
        self.conv_2 = nn.Conv2d(C_in, C_out - C_out // 2, 1, stride=2, padding=0, bias=False)
        self.bn = nn.BatchNorm2d(C_out, affine=affine, track_running_stats=track)

    def forward(self, x):
        x = self.relu(x)
        shifted = F.pad(x, (0, 1, 0, 1))[:, :, 1:, 1:]
        return self.bn(torch.cat([self.conv_1(x), self.conv_2(shifted)], dim=1))


def _skip(C_in, C_out, stride, affine, track):
    if stride == 1 and C_in == C_out:
        return nn.Identity()
    if stride != 2:
        raise ValueError(f"skip_connect changes shape only with stride 2; got stride {stride}, {C_in}->{C_out}.")
    return FactorizedReduce(C_in, C_out, affine, track)


# Factory signature as in `harness.spaces.ops`: (C_in, C_out, stride, affine, track) -> module.
# Within DARTS cells C_in == C_out always; Zero and Pooling are the shared implementations.
DARTS_OPS = {
    "none": lambda C_in, C_out, stride, affine, track: Zero(C_in, C_out, stride),
    "skip_connect": _skip,
    "sep_conv_3x3": lambda C_in, C_out, stride, affine, track: SepConv(C_in, C_out, 3, stride, 1, affine, track),
    "sep_conv_5x5": lambda C_in, C_out, stride, affine, track: SepConv(C_in, C_out, 5, stride, 2, affine, track),
    "dil_conv_3x3": lambda C_in, C_out, stride, affine, track: DilConv(C_in, C_out, 3, stride, 2, 2, affine, track),
    "dil_conv_5x5": lambda C_in, C_out, stride, affine, track: DilConv(C_in, C_out, 5, stride, 4, 2, affine, track),
    "avg_pool_3x3": lambda C_in, C_out, stride, affine, track: Pooling(C_in, C_out, stride, "avg", affine, track),
    "max_pool_3x3": lambda C_in, C_out, stride, affine, track: Pooling(C_in, C_out, stride, "max", affine, track),
}
assert tuple(DARTS_OPS) == OPS


def preprocess_ops(C_prev_prev: int, C_prev: int, C: int, reduction_prev: bool, affine=True, track=True):
    """The cell's input projections: s0 is halved if the previous cell reduced; both become C channels."""
    pre0 = (FactorizedReduce(C_prev_prev, C, affine, track) if reduction_prev
            else ReLUConvBN(C_prev_prev, C, 1, 1, 0, affine, track))
    return pre0, ReLUConvBN(C_prev, C, 1, 1, 0, affine, track)


# ---- search supernets (TE-NAS, docs/tenas-spec.md §3) -------------------------------------------------

class MixedOp(nn.Module):
    """All ops of one edge, mixed by softmax weights; ops with weight <= 0.01 are not computed."""

    def __init__(self, C: int, stride: int, affine=True, track=True):
        super().__init__()
        self._ops = nn.ModuleList(DARTS_OPS[op](C, C, stride, affine, track) for op in OPS)

    def forward(self, x, weights: Sequence[float], weight_tensor: torch.Tensor):
        terms = [op(x) * weight_tensor[k] for k, op in enumerate(self._ops)
                 if weights[k] > ACTIVE_WEIGHT_THRESHOLD]
        return sum(terms) if terms else None


class DartsSearchCell(nn.Module):
    """A search cell: a `MixedOp` on every edge ``i<-j``; edges fully pruned contribute nothing."""

    def __init__(self, C_prev_prev: int, C_prev: int, C: int, reduction: bool, reduction_prev: bool,
                 affine=True, track=True):
        super().__init__()
        self.reduction = reduction
        self.preprocess0, self.preprocess1 = preprocess_ops(C_prev_prev, C_prev, C, reduction_prev, affine, track)
        self.edges = nn.ModuleDict(
            (name, MixedOp(C, 2 if reduction and j < CELL_INPUTS else 1, affine, track))
            for name, (i, j) in zip(EDGE_NAMES, EDGES)
        )
        self.out_dim = STEPS * C

    def forward(self, s0, s1, weights, weight_tensor, alphas):
        states = [self.preprocess0(s0), self.preprocess1(s1)]
        for i in range(STEPS):
            terms = []
            for j, h in enumerate(states):
                e = EDGE_INDEX[(i, j)]
                # TE-NAS: an edge whose alphas are all pruned is removed (softmax would still be uniform).
                if all(a <= PRUNED_ALPHA for a in alphas[e]):
                    continue
                out = self.edges[EDGE_NAMES[e]](h, weights[e], weight_tensor[e])
                if out is not None:
                    terms.append(out)
            states.append(sum(terms) if terms else self._zeros(states[1]))
        return torch.cat(states[-STEPS:], dim=1)

    def _zeros(self, s1):
        # A node with no surviving input (only reachable through hand-made masks) outputs zeros.
        b, c, h, w = s1.shape
        if self.reduction:
            h, w = (h + 1) // 2, (w + 1) // 2
        return s1.new_zeros(b, c, h, w)


# TE-NAS's two supernets (docs/tenas-spec.md §3); `num_classes` is 10 for cifar10, 1000 for imagenet.
PRESETS: dict[str, dict] = {
    # NTK net: C=1, N=1, 2 cells (normal + reduction), stem 3x3 conv 3->1 + BN (stem_multiplier 1).
    "tenas_ntk": dict(C=1, N=1, depth=2, stem=True, stem_multiplier=1, in_channels=3),
    # Linear-region "thin" net: the same two cells fed the 1-channel input directly.
    "tenas_lr": dict(C=1, N=1, depth=2, stem=False, stem_multiplier=1, in_channels=1),
}
NUM_CLASSES = {"cifar10": 10, "cifar100": 100, "imagenet": 1000}


class DartsSearchNetwork(nn.Module):
    """TE-NAS's ``NASNetworkDARTS``: [stem] -> cells of widths [C]*N, 2C, [2C]*(N-1), 4C, ...
    (truncated to `depth` cells) -> BN + ReLU -> global pooling -> linear. Logits only.

    Alphas are ``arch_normal_parameters`` / ``arch_reduce_parameters`` (14 x 8, all 0 = all ops
    active); their names avoid "weight", which TE-NAS's NTK uses to select parameters.
    """

    def __init__(self, C: int = 1, N: int = 1, depth: int | None = 2, num_classes: int = 10,
                 stem: bool = True, stem_multiplier: int = 1, in_channels: int = 3,
                 affine: bool = True, track_running_stats: bool = True):
        super().__init__()
        self.config = dict(C=C, N=N, depth=depth, num_classes=num_classes, stem=stem,
                           stem_multiplier=stem_multiplier, in_channels=in_channels, affine=affine,
                           track_running_stats=track_running_stats)
        track = track_running_stats
        if stem:
            self.stem = nn.Sequential(nn.Conv2d(in_channels, C * stem_multiplier, 3, padding=1, bias=False),
                                      nn.BatchNorm2d(C * stem_multiplier))
            C_prev_prev = C_prev = C * stem_multiplier
        else:
            self.stem = None
            C_prev_prev = C_prev = in_channels
        channels = [C] * N + [2 * C] + [2 * C] * (N - 1) + [4 * C] + [4 * C] * (N - 1)
        reductions = [False] * N + [True] + [False] * (N - 1) + [True] + [False] * (N - 1)
        if depth is not None and depth > 0:
            channels, reductions = channels[:depth], reductions[:depth]
        self.cells = nn.ModuleList()
        reduction_prev = False
        for C_curr, reduction in zip(channels, reductions):
            cell = DartsSearchCell(C_prev_prev, C_prev, C_curr, reduction, reduction_prev, affine, track)
            self.cells.append(cell)
            C_prev_prev, C_prev, reduction_prev = C_prev, cell.out_dim, reduction
        self.lastact = nn.Sequential(nn.BatchNorm2d(C_prev), nn.ReLU(inplace=False))
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(C_prev, num_classes)
        self.arch_normal_parameters = nn.Parameter(torch.zeros(len(EDGES), len(OPS)))
        self.arch_reduce_parameters = nn.Parameter(torch.zeros(len(EDGES), len(OPS)))

    def forward(self, x):
        mixing = {}
        for kind, alpha in zip(CELL_TYPES, self.alphas()):
            w = torch.softmax(alpha, dim=-1)
            mixing[kind] = (w.tolist(), w, alpha.detach().tolist())
        s0 = s1 = self.stem(x) if self.stem is not None else x
        for cell in self.cells:
            s0, s1 = s1, cell(s0, s1, *mixing["reduce" if cell.reduction else "normal"])
        out = self.global_pooling(self.lastact(s1)).flatten(1)
        return self.classifier(out)

    # ---- alphas ------------------------------------------------------------------------------
    def alphas(self) -> tuple[nn.Parameter, nn.Parameter]:
        return self.arch_normal_parameters, self.arch_reduce_parameters

    def set_alphas(self, normal, reduce) -> None:
        with torch.no_grad():
            for param, value in zip(self.alphas(), (normal, reduce)):
                param.copy_(torch.as_tensor(value, dtype=param.dtype))

    def set_active_ops(self, normal_mask: Sequence[Sequence[bool]], reduce_mask: Sequence[Sequence[bool]]) -> None:
        """Alphas 0 for active ops, -1000 for pruned ones; each mask is 14 edges x 8 ops."""
        self.set_alphas(*(mask_to_alphas(m, kind) for m, kind in zip((normal_mask, reduce_mask), CELL_TYPES)))

    def active_ops(self) -> tuple[list[list[bool]], list[list[bool]]]:
        """Per cell type, edges x ops: True where the softmax weight is above 0.01 and the edge lives."""
        return tuple(active_mask(a) for a in self.alphas())

    def genotype(self) -> Genotype:
        return genotype_from_alphas(*self.alphas())


def mask_to_alphas(mask, kind: str = "normal") -> torch.Tensor:
    m = torch.as_tensor(mask, dtype=torch.bool)
    if m.shape != (len(EDGES), len(OPS)):
        raise ValueError(f"{kind} op mask must be {len(EDGES)} edges x {len(OPS)} ops; got shape {tuple(m.shape)}.")
    return torch.where(m, 0.0, PRUNED_ALPHA)


def active_mask(alphas) -> list[list[bool]]:
    a = torch.as_tensor(alphas).detach().float()
    alive = (a > PRUNED_ALPHA).any(dim=-1, keepdim=True)
    return ((torch.softmax(a, dim=-1) > ACTIVE_WEIGHT_THRESHOLD) & alive).tolist()


def genotype_to_masks(genotype) -> tuple[list[list[bool]], list[list[bool]]]:
    """Op masks (14 x 8 per cell type) that make a supernet compute `genotype`'s cells."""
    g = load_genotype(genotype)
    masks = []
    for kind in CELL_TYPES:
        pairs, concat = g.cell(kind)
        if tuple(sorted(concat)) != DEFAULT_CONCAT:
            raise InputError(f"{kind}_concat {list(concat)} is not the search space's {list(DEFAULT_CONCAT)}.")
        mask = [[False] * len(OPS) for _ in EDGES]
        for k, (op, j) in enumerate(pairs):
            e = EDGE_INDEX[(k // 2, j)]
            if any(mask[e]):
                raise InputError(f"{kind} node {k // 2 + 2} takes input {j} twice; the DARTS search space "
                                 f"has one edge per (node, input).")
            mask[e][OPS.index(op)] = True
        masks.append(mask)
    return masks[0], masks[1]


def build_supernet(preset: str | None = None, **overrides) -> DartsSearchNetwork:
    """A DARTS supernet with every op active; `preset` names a row of PRESETS (``tenas_ntk``/``tenas_lr``)."""
    if preset is not None and preset not in PRESETS:
        raise unknown_name("DARTS supernet preset", preset, PRESETS)
    kwargs = dict(PRESETS[preset]) if preset else {}
    kwargs.update(overrides)
    return DartsSearchNetwork(**kwargs)


# ---- alphas -> genotype (DARTS's parse, docs/tenas-spec.md §9) ----------------------------------------

def _parse_cell(alphas) -> list[tuple[str, int]]:
    w = torch.softmax(torch.as_tensor(alphas, dtype=torch.float64).detach().cpu(), dim=-1).tolist()
    if len(w) != len(EDGES) or any(len(row) != len(OPS) for row in w):
        raise ValueError(f"alphas must be {len(EDGES)} edges x {len(OPS)} ops.")
    none = OPS.index("none")
    gene = []
    for i, (start, stop) in enumerate(NODE_EDGE_GROUPS):
        W = w[start:stop]
        best = lambda row: max(row[k] for k in range(len(OPS)) if k != none)  # noqa: E731
        inputs = sorted(range(i + 2), key=lambda j: -best(W[j]))[:2]  # stable: ties keep lower j
        for j in inputs:
            k_best = max((k for k in range(len(OPS)) if k != none), key=lambda k: (W[j][k], -k))
            gene.append((OPS[k_best], j))
    return gene


def genotype_from_alphas(normal_alphas, reduce_alphas, concat: Sequence[int] = DEFAULT_CONCAT) -> Genotype:
    """DARTS's parse of softmax(alpha): per node the 2 inputs whose best non-`none` weight is highest
    (stronger first), each with its best non-`none` op. After TE-NAS's pruning every surviving edge
    has weight ~1 against 1/8 for removed ones, so this returns exactly the survivors."""
    return Genotype(_parse_cell(normal_alphas), list(concat), _parse_cell(reduce_alphas), list(concat))
