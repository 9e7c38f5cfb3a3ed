"""The DARTS cell space and its architectures: ops, edges, the `Genotype` type in DARTS's own
notation (parsing, validation, loading), the published genotypes and the space's summary.

A cell has two inputs (the outputs of the two previous cells, nodes 0 and 1) and four
intermediate nodes (2..5); the output concatenates the intermediate nodes. The search space has
one mixed op on each of the 14 edges ``i<-j`` (intermediate node i = 0..3 from input j = 0..i+1),
in the lexicographic order of those strings, which groups the edges by target node (docs/tenas-spec.md
§2). A final architecture (a *genotype*) keeps two (op, input) pairs per node, as DARTS writes it::

    Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ...], normal_concat=[2, 3, 4, 5],
             reduce=[...], reduce_concat=[2, 3, 4, 5])

Like DARTS's own ``genotypes.py`` (op list, `Genotype`, published genotypes), this module uses no
torch. The ops are in `harness.spaces.darts.ops`, TE-NAS's search supernets in
`harness.spaces.darts.supernet`, the evaluation networks in `harness.spaces.darts.network`.
"""

from __future__ import annotations

import ast
import json
import math
import re
from collections import namedtuple
from collections.abc import Sequence
from pathlib import Path

from harness.errors import InputError, unknown_name

# ---- the space -------------------------------------------------------------------------------

OPS: tuple[str, ...] = (
    "none",
    "skip_connect",
    "sep_conv_3x3",
    "sep_conv_5x5",
    "dil_conv_3x3",
    "dil_conv_5x5",
    "avg_pool_3x3",
    "max_pool_3x3",
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

assert EDGE_NAMES == tuple(sorted(EDGE_NAMES))  # single-digit keys: index order == string order


def genotypes_per_cell() -> int:
    """Distinct cells a DARTS parse can produce: per node, 2 distinct inputs and a non-none op each."""
    return math.prod(math.comb(i + 2, 2) * len(GENOTYPE_OPS) ** 2 for i in range(STEPS))


# ---- genotypes -------------------------------------------------------------------------------

_GenotypeBase = namedtuple("Genotype", "normal normal_concat reduce reduce_concat")


def _bad(text: str, why: str) -> InputError:
    return InputError(f"invalid DARTS genotype {text}: {why}")


def _is_node(entry) -> bool:
    return (
        isinstance(entry, (list, tuple))
        and len(entry) > 0
        and all(isinstance(p, (list, tuple)) for p in entry)
    )


def _check_cell(
    kind: str, pairs, concat, shown: str
) -> tuple[tuple[tuple[str, int], ...], tuple[int, ...]]:
    if isinstance(pairs, (str, bytes)) or not isinstance(pairs, Sequence):
        raise _bad(shown, f"{kind} must be a list of (op, input) pairs; got {pairs!r}.")
    pairs = list(pairs)
    if pairs and all(_is_node(p) for p in pairs):
        # pt.darts writes one list per node: [[(op, j), (op, j)], ...]; flatten it.
        pairs = [pair for node in pairs for pair in node]
    if len(pairs) != 2 * STEPS:
        raise _bad(
            shown,
            f"{kind} has {len(pairs)} (op, input) pairs; a DARTS cell has {STEPS} nodes "
            f"with 2 inputs each, so exactly {2 * STEPS} pairs.",
        )
    out = []
    for k, pair in enumerate(pairs):
        node = k // 2 + CELL_INPUTS
        if (
            isinstance(pair, (str, bytes))
            or not isinstance(pair, Sequence)
            or len(pair) != 2
            or not isinstance(pair[0], str)
            or isinstance(pair[1], bool)
            or not isinstance(pair[1], int)
        ):
            raise _bad(
                shown,
                f"{kind} entry {k} (node {node}) must be an (op name, input index) pair; "
                f"got {pair!r}.",
            )
        op, j = pair
        if op == "none":
            raise _bad(
                shown,
                f"{kind} node {node} uses 'none'; a final genotype keeps real ops only "
                f"({', '.join(GENOTYPE_OPS)}).",
            )
        if op not in GENOTYPE_OPS:
            raise _bad(
                shown,
                f"{kind} node {node} has op {op!r}; expected one of {', '.join(GENOTYPE_OPS)}.",
            )
        if not 0 <= j < node:
            raise _bad(
                shown,
                f"{kind} node {node} takes input {j}; node {node} accepts inputs 0..{node - 1} "
                f"(0, 1 = the cell inputs, 2.. = earlier nodes).",
            )
        out.append((op, j))
    if isinstance(concat, (str, bytes)) or not isinstance(concat, (Sequence, range)):
        raise _bad(shown, f"{kind}_concat must be a list of node indices; got {concat!r}.")
    concat = list(concat)
    last = STEPS + CELL_INPUTS - 1
    if (
        not concat
        or len(set(concat)) != len(concat)
        or any(isinstance(c, bool) or not isinstance(c, int) or not 2 <= c <= last for c in concat)
    ):
        raise _bad(
            shown, f"{kind}_concat {concat!r} must list distinct intermediate nodes in 2..{last}."
        )
    return tuple(out), tuple(concat)


class Genotype(_GenotypeBase):
    """A DARTS architecture: per cell type, two (op, input) pairs per intermediate node (2..5) in node
    order, and the nodes concatenated into the output. Validated on construction; ``str()`` gives
    DARTS's own notation, so it can be pasted into DARTS-derived code and back."""

    __slots__ = ()

    def __new__(
        cls, normal, normal_concat=DEFAULT_CONCAT, reduce=None, reduce_concat=DEFAULT_CONCAT
    ):
        if reduce is None:
            raise InputError("invalid DARTS genotype: missing the reduce cell (reduce=[...]).")
        shown = f"(normal={normal!r}, reduce={reduce!r})"
        normal, normal_concat = _check_cell("normal", normal, normal_concat, shown)
        reduce, reduce_concat = _check_cell("reduce", reduce, reduce_concat, shown)
        return super().__new__(cls, normal, normal_concat, reduce, reduce_concat)

    def __str__(self) -> str:
        return (
            f"Genotype(normal={list(self.normal)!r}, normal_concat={list(self.normal_concat)!r}, "
            f"reduce={list(self.reduce)!r}, reduce_concat={list(self.reduce_concat)!r})"
        )

    __repr__ = __str__

    def to_dict(self) -> dict:
        """JSON-ready form: lists of [op, input] pairs and concat lists."""
        return {
            "normal": [list(p) for p in self.normal],
            "normal_concat": list(self.normal_concat),
            "reduce": [list(p) for p in self.reduce],
            "reduce_concat": list(self.reduce_concat),
        }

    @classmethod
    def from_dict(cls, data: dict) -> Genotype:
        if not isinstance(data, dict) or not {"normal", "reduce"} <= set(data):
            raise InputError(
                f"invalid DARTS genotype JSON: expected an object with keys normal, "
                f"normal_concat, reduce, reduce_concat; got {data!r}."
            )
        unknown = set(data) - set(cls._fields)
        if unknown:
            raise InputError(
                f"invalid DARTS genotype JSON: unknown keys {sorted(unknown)}; "
                f"expected {', '.join(cls._fields)}."
            )
        pairs = {
            k: [tuple(p) if isinstance(p, list) else p for p in data[k]]
            if isinstance(data[k], list)
            else data[k]
            for k in ("normal", "reduce")
        }
        return cls(
            pairs["normal"],
            data.get("normal_concat", DEFAULT_CONCAT),
            pairs["reduce"],
            data.get("reduce_concat", DEFAULT_CONCAT),
        )

    @classmethod
    def from_str(cls, text: str) -> Genotype:
        """Parse DARTS's notation (optionally ``NAME = Genotype(...)``); literals only, never `eval`."""
        return parse_genotype(text)

    def canonical(self) -> Genotype:
        """The same architecture with each node's two pairs sorted (node order within DARTS's notation
        is irrelevant), for comparing genotypes."""

        def norm(pairs):
            return [
                p
                for k in range(0, len(pairs), 2)
                for p in sorted(pairs[k : k + 2], key=lambda q: (q[1], q[0]))
            ]

        return Genotype(
            norm(self.normal),
            sorted(self.normal_concat),
            norm(self.reduce),
            sorted(self.reduce_concat),
        )

    def cell(self, kind: str) -> tuple[tuple[tuple[str, int], ...], tuple[int, ...]]:
        if kind not in CELL_TYPES:
            raise unknown_name("cell type", kind, CELL_TYPES)
        return (
            (self.normal, self.normal_concat)
            if kind == "normal"
            else (self.reduce, self.reduce_concat)
        )


_EXAMPLE = "Genotype(normal=[('sep_conv_3x3', 0), ...], normal_concat=[2, 3, 4, 5], reduce=[...], reduce_concat=[2, 3, 4, 5])"
_ASSIGN_RE = re.compile(r"^\s*[A-Za-z_]\w*\s*=\s*")


def _literal(node: ast.AST, text: str):
    # `range(2, 6)` is common in published genotypes; expand it without evaluating anything.
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == "range"
        and not node.keywords
        and 1 <= len(node.args) <= 3
    ):
        return list(range(*(_literal(a, text) for a in node.args)))
    try:
        return ast.literal_eval(node)
    except ValueError as err:
        raise _bad(
            repr(text), f"{ast.unparse(node)!r} is not a literal ({err}); expected e.g. {_EXAMPLE}."
        ) from None


def parse_genotype(text: str) -> Genotype:
    """Parse ``Genotype(normal=[...], normal_concat=[...], reduce=[...], reduce_concat=[...])``.

    The call is read with `ast` and every argument with `ast.literal_eval` (plus ``range(a, b)``),
    so pasted text can never run code. Positional arguments follow the namedtuple's field order.
    """
    if not isinstance(text, str):
        raise InputError(
            f"a DARTS genotype must be given as text; got {type(text).__name__} {text!r}."
        )
    source = _ASSIGN_RE.sub("", text.strip(), count=1)
    try:
        tree = ast.parse(source, mode="eval").body
    except SyntaxError as err:
        raise _bad(
            repr(text), f"not valid Python syntax ({err.msg}); expected {_EXAMPLE}."
        ) from None
    if not (
        isinstance(tree, ast.Call)
        and isinstance(tree.func, (ast.Name, ast.Attribute))
        and (tree.func.id if isinstance(tree.func, ast.Name) else tree.func.attr) == "Genotype"
    ):
        raise _bad(repr(text), f"expected a single Genotype(...) call like {_EXAMPLE}.")
    fields = Genotype._fields
    if len(tree.args) > len(fields):
        raise _bad(
            repr(text), f"Genotype takes at most {len(fields)} arguments ({', '.join(fields)})."
        )
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
    return Genotype(
        values["normal"],
        values.get("normal_concat", DEFAULT_CONCAT),
        values["reduce"],
        values.get("reduce_concat", DEFAULT_CONCAT),
    )


def format_genotype(genotype: Genotype) -> str:
    return str(genotype)


# Published genotypes. TENAS_* from chenwydj/DARTS_evaluation genotypes.py as transcribed in
# docs/tenas-spec.md §13 (inputs 0/1 = cell inputs, 2.. = earlier nodes); DARTS_V2 from quark0/darts.
GENOTYPES: dict[str, Genotype] = {
    "TENAS_cifar10": Genotype(
        normal=[
            ("dil_conv_3x3", 0),
            ("sep_conv_5x5", 1),
            ("sep_conv_3x3", 0),
            ("sep_conv_3x3", 2),
            ("skip_connect", 0),
            ("dil_conv_5x5", 1),
            ("sep_conv_3x3", 1),
            ("sep_conv_5x5", 3),
        ],
        normal_concat=[2, 3, 4, 5],
        reduce=[
            ("sep_conv_5x5", 0),
            ("sep_conv_5x5", 1),
            ("sep_conv_5x5", 1),
            ("sep_conv_5x5", 2),
            ("sep_conv_3x3", 1),
            ("sep_conv_3x3", 3),
            ("sep_conv_5x5", 2),
            ("sep_conv_3x3", 4),
        ],
        reduce_concat=[2, 3, 4, 5],
    ),
    "TENAS_imagenet": Genotype(
        normal=[
            ("sep_conv_3x3", 0),
            ("skip_connect", 1),
            ("dil_conv_5x5", 1),
            ("sep_conv_3x3", 2),
            ("sep_conv_3x3", 0),
            ("dil_conv_5x5", 3),
            ("sep_conv_3x3", 0),
            ("dil_conv_3x3", 4),
        ],
        normal_concat=[2, 3, 4, 5],
        reduce=[
            ("dil_conv_3x3", 0),
            ("sep_conv_5x5", 1),
            ("dil_conv_3x3", 0),
            ("sep_conv_3x3", 2),
            ("sep_conv_3x3", 0),
            ("dil_conv_3x3", 1),
            ("sep_conv_3x3", 0),
            ("sep_conv_5x5", 4),
        ],
        reduce_concat=[2, 3, 4, 5],
    ),
    "DARTS_V2": Genotype(
        normal=[
            ("sep_conv_3x3", 0),
            ("sep_conv_3x3", 1),
            ("sep_conv_3x3", 0),
            ("sep_conv_3x3", 1),
            ("sep_conv_3x3", 1),
            ("skip_connect", 0),
            ("skip_connect", 0),
            ("dil_conv_3x3", 2),
        ],
        normal_concat=[2, 3, 4, 5],
        reduce=[
            ("max_pool_3x3", 0),
            ("max_pool_3x3", 1),
            ("skip_connect", 2),
            ("max_pool_3x3", 1),
            ("max_pool_3x3", 0),
            ("skip_connect", 2),
            ("skip_connect", 2),
            ("max_pool_3x3", 1),
        ],
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
        raise InputError(
            f"cannot read a DARTS genotype from {spec!r}; give a name, a file or Genotype(...) text."
        )
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
            raise InputError(
                f"genotype file {str(path)!r} holds neither JSON nor a Genotype(...) expression."
            )
        return parse_genotype(content)
    if re.fullmatch(r"[A-Za-z_]\w*", text):
        raise unknown_name("DARTS genotype", text, GENOTYPES)
    raise InputError(
        f"cannot read a DARTS genotype from {spec!r}: not a shipped name "
        f"({', '.join(sorted(GENOTYPES))}), an existing file, or Genotype(...) text."
    )


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
        "genotypes": per_cell**2,
        "counting": "per node 2 distinct inputs x 7 non-none ops each (order within a node ignored); "
        "normal and reduce cells independent",
        "shipped_genotypes": sorted(GENOTYPES),
    }
