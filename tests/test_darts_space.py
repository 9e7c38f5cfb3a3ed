"""DARTS space: genotype notation, validation, TE-NAS supernets, alpha parse, evaluation networks."""

from __future__ import annotations

import itertools
import json

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from harness.errors import InputError
from harness.spaces import darts
from harness.spaces.darts import (
    EDGE_NAMES,
    EDGES,
    GENOTYPE_OPS,
    GENOTYPES,
    NODE_EDGE_GROUPS,
    OPS,
    PRUNED_ALPHA,
    Genotype,
    build_supernet,
    genotype_from_alphas,
    genotype_to_masks,
    load_genotype,
    mask_to_alphas,
    parse_genotype,
)
from harness.spaces.darts import (
    NetworkCIFAR,
    NetworkImageNet,
    build_network,
    count_macs,
    count_parameters,
    drop_path,
    summarize,
)

# Verbatim lines of the published genotype files (chenwydj/DARTS_evaluation genotypes.py @4c317ce,
# quark0/darts cnn/genotypes.py): the shipped genotypes must be exactly these.
OFFICIAL = {
    "TENAS_cifar10": "TENAS_cifar10 = Genotype(normal=[('dil_conv_3x3', 0), ('sep_conv_5x5', 1), ('sep_conv_3x3', 0), ('sep_conv_3x3', 2), ('skip_connect', 0), ('dil_conv_5x5', 1), ('sep_conv_3x3', 1), ('sep_conv_5x5', 3)], normal_concat=[2, 3, 4, 5], reduce=[('sep_conv_5x5', 0), ('sep_conv_5x5', 1), ('sep_conv_5x5', 1), ('sep_conv_5x5', 2), ('sep_conv_3x3', 1), ('sep_conv_3x3', 3), ('sep_conv_5x5', 2), ('sep_conv_3x3', 4)], reduce_concat=[2, 3, 4, 5])",
    "TENAS_imagenet": "TENAS_imagenet = Genotype(normal=[('sep_conv_3x3', 0), ('skip_connect', 1), ('dil_conv_5x5', 1), ('sep_conv_3x3', 2), ('sep_conv_3x3', 0), ('dil_conv_5x5', 3), ('sep_conv_3x3', 0), ('dil_conv_3x3', 4)], normal_concat=[2, 3, 4, 5], reduce=[('dil_conv_3x3', 0), ('sep_conv_5x5', 1), ('dil_conv_3x3', 0), ('sep_conv_3x3', 2), ('sep_conv_3x3', 0), ('dil_conv_3x3', 1), ('sep_conv_3x3', 0), ('sep_conv_5x5', 4)], reduce_concat=[2, 3, 4, 5])",
    "DARTS_V2": "DARTS_V2 = Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 1), ('skip_connect', 0), ('skip_connect', 0), ('dil_conv_3x3', 2)], normal_concat=[2, 3, 4, 5], reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1), ('skip_connect', 2), ('max_pool_3x3', 1), ('max_pool_3x3', 0), ('skip_connect', 2), ('skip_connect', 2), ('max_pool_3x3', 1)], reduce_concat=[2, 3, 4, 5])",
}
DARTS_V2 = GENOTYPES["DARTS_V2"]


@pytest.fixture(autouse=True)
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


# ---- the space -----------------------------------------------------------------------------------


def test_edges_are_sorted_keys_grouped_by_node():
    assert len(EDGES) == 14 and EDGE_NAMES == tuple(
        sorted(f"{i}<-{j}" for i in range(4) for j in range(i + 2))
    )
    assert NODE_EDGE_GROUPS == ((0, 2), (2, 5), (5, 9), (9, 14))
    for i, (start, stop) in enumerate(NODE_EDGE_GROUPS):
        assert [EDGES[e] for e in range(start, stop)] == [(i, j) for j in range(i + 2)]
    assert OPS == (
        "none",
        "skip_connect",
        "sep_conv_3x3",
        "sep_conv_5x5",
        "dil_conv_3x3",
        "dil_conv_5x5",
        "avg_pool_3x3",
        "max_pool_3x3",
    )


def test_genotype_count_matches_enumeration():
    # Per node: the distinct sets {(op, j), (op', j')} with j != j', enumerated, not from the formula.
    per_cell = 1
    for node in range(4):
        pairs = [(op, j) for op in GENOTYPE_OPS for j in range(node + 2)]
        per_cell *= len(
            {frozenset(p) for p in itertools.combinations(pairs, 2) if p[0][1] != p[1][1]}
        )
    info = darts.describe()
    assert info["genotypes_per_cell"] == per_cell == 1_037_664_180
    assert info["genotypes"] == per_cell**2
    assert info["ops"] == list(OPS) and info["edges"] == list(EDGE_NAMES) and info["nodes"] == 4
    assert set(info["shipped_genotypes"]) == {"TENAS_cifar10", "TENAS_imagenet", "DARTS_V2"}
    json.dumps(info)


# ---- genotypes: notation and round trips ---------------------------------------------------------


@pytest.mark.parametrize("name", sorted(OFFICIAL))
def test_shipped_genotypes_equal_the_published_text(name):
    assert parse_genotype(OFFICIAL[name]) == GENOTYPES[name]
    assert (
        str(GENOTYPES[name]) == OFFICIAL[name].split(" = ", 1)[1]
    )  # formats back to the same text


@pytest.mark.parametrize("name", sorted(OFFICIAL))
def test_round_trips(name, tmp_path):
    g = GENOTYPES[name]
    assert parse_genotype(str(g)) == g
    assert Genotype.from_dict(json.loads(json.dumps(g.to_dict()))) == g
    (tmp_path / "g.txt").write_text(OFFICIAL[name] + "\n")
    (tmp_path / "g.json").write_text(json.dumps(g.to_dict()))
    assert load_genotype(str(tmp_path / "g.txt")) == g
    assert load_genotype(tmp_path / "g.json") == g
    assert (
        load_genotype(name) == g and load_genotype(str(g)) == g and load_genotype(g.to_dict()) == g
    )
    for form in (str(g), g.to_dict()):  # a search's result.json
        (tmp_path / "result.json").write_text(json.dumps({"seed": 0, "genotype": form}))
        assert load_genotype(str(tmp_path / "result.json")) == g


def test_other_published_spellings_parse():
    ranged = "Genotype(normal=[('sep_conv_3x3', 1), ('skip_connect', 0), ('sep_conv_3x3', 0), ('dil_conv_3x3', 1), ('sep_conv_5x5', 0), ('sep_conv_3x3', 1), ('avg_pool_3x3', 0), ('dil_conv_3x3', 1)], normal_concat=range(2, 6), reduce=[('sep_conv_5x5', 1), ('max_pool_3x3', 0), ('sep_conv_5x5', 1), ('sep_conv_5x5', 2), ('sep_conv_3x3', 0), ('sep_conv_3x3', 3), ('sep_conv_3x3', 1), ('sep_conv_3x3', 2)], reduce_concat=range(2, 6))"
    g = parse_genotype(ranged)  # PC-DARTS's line
    assert g.normal_concat == (2, 3, 4, 5) and g.normal[0] == ("sep_conv_3x3", 1)
    nested = (
        "genotypes.Genotype(normal=[[('sep_conv_3x3', 0), ('sep_conv_3x3', 1)], [('sep_conv_3x3', 0), ('sep_conv_3x3', 1)], "
        "[('sep_conv_3x3', 1), ('skip_connect', 0)], [('skip_connect', 0), ('dil_conv_3x3', 2)]], normal_concat=range(2, 6), "
        "reduce=[[('max_pool_3x3', 0), ('max_pool_3x3', 1)], [('skip_connect', 2), ('max_pool_3x3', 1)], "
        "[('max_pool_3x3', 0), ('skip_connect', 2)], [('skip_connect', 2), ('max_pool_3x3', 1)]], reduce_concat=range(2, 6))"
    )
    assert parse_genotype(nested) == DARTS_V2  # pt.darts's one-list-per-node form
    positional = (
        f"Genotype({list(DARTS_V2.normal)}, [2, 3, 4, 5], {list(DARTS_V2.reduce)}, [2, 3, 4, 5])"
    )
    assert parse_genotype(positional) == DARTS_V2


@st.composite
def genotypes(draw):
    cells = []
    for _ in range(2):
        pairs = []
        for node in range(2, 6):
            for _ in range(2):
                pairs.append((draw(st.sampled_from(GENOTYPE_OPS)), draw(st.integers(0, node - 1))))
        concat = draw(st.lists(st.integers(2, 5), min_size=1, max_size=4, unique=True))
        cells += [pairs, concat]
    return Genotype(*cells)


@settings(max_examples=200, deadline=None)
@given(genotypes())
def test_round_trip_property(g):
    assert parse_genotype(str(g)) == g
    assert Genotype.from_dict(json.loads(json.dumps(g.to_dict()))) == g
    assert g.canonical().canonical() == g.canonical()


# ---- genotypes: every error path ---------------------------------------------------------------


def _with(normal=None, reduce=None) -> str:
    n = list(DARTS_V2.normal) if normal is None else normal
    r = list(DARTS_V2.reduce) if reduce is None else reduce
    return f"Genotype(normal={n!r}, normal_concat=[2, 3, 4, 5], reduce={r!r}, reduce_concat=[2, 3, 4, 5])"


@pytest.mark.parametrize(
    "text, message",
    [
        (
            _with(normal=[("sep_conv_7x7", 0)] + list(DARTS_V2.normal[1:])),
            r"normal node 2 has op 'sep_conv_7x7'; expected one of skip_connect, sep_conv_3x3",
        ),
        (
            _with(
                reduce=list(DARTS_V2.reduce[:2]) + [("skip_connect", 3)] + list(DARTS_V2.reduce[3:])
            ),
            r"reduce node 3 takes input 3; node 3 accepts inputs 0\.\.2",
        ),
        (
            _with(normal=[("sep_conv_3x3", -1)] + list(DARTS_V2.normal[1:])),
            r"normal node 2 takes input -1",
        ),
        (
            _with(normal=list(DARTS_V2.normal[:7])),
            r"normal has 7 \(op, input\) pairs; .* exactly 8 pairs",
        ),
        (
            _with(reduce=list(DARTS_V2.reduce) + [("skip_connect", 0), ("skip_connect", 1)]),
            r"reduce has 10",
        ),
        (
            _with(normal=[("none", 0)] + list(DARTS_V2.normal[1:])),
            r"normal node 2 uses 'none'; a final genotype",
        ),
        (
            _with(normal=[("sep_conv_3x3",)] + list(DARTS_V2.normal[1:])),
            r"normal entry 0 \(node 2\) must be an \(op name, input index\) pair",
        ),
        (
            _with(normal=[("sep_conv_3x3", 0.0)] + list(DARTS_V2.normal[1:])),
            r"must be an \(op name, input index\) pair",
        ),
        (
            _with().replace("normal_concat=[2, 3, 4, 5]", "normal_concat=[2, 6]"),
            r"normal_concat \[2, 6\] must list distinct intermediate nodes in 2\.\.5",
        ),
        (
            _with().replace("reduce_concat=[2, 3, 4, 5]", "reduce_concat=[2, 2]"),
            r"reduce_concat \[2, 2\]",
        ),
        ("Genotype(normal=[('sep_conv_3x3', 0)", r"not valid Python syntax"),
        ("Network(normal=[])", r"expected a single Genotype\(...\) call"),
        ("Genotype(normal=foo, reduce=[])", r"'foo' is not a literal"),
        ("Genotype(normal=[], reduce=[], extra=[])", r"unknown field 'extra'"),
        ("Genotype([], [2], [], [2], [3])", r"at most 4 arguments"),
        ("Genotype([], normal=[], reduce=[])", r"field 'normal' is given twice"),
        ("Genotype(normal=[])", r"missing field\(s\) reduce"),
        (
            "Genotype(normal='sep_conv_3x3', reduce=[])",
            r"normal must be a list of \(op, input\) pairs",
        ),
    ],
)
def test_genotype_errors(text, message):
    with pytest.raises(InputError, match=message):
        parse_genotype(text)
    if "Genotype(" in text:  # load_genotype routes Genotype(...) text to the parser
        with pytest.raises(InputError, match=message):
            load_genotype(text)


def test_pasted_text_is_never_executed(tmp_path):
    target = tmp_path / "pwned"
    text = f"Genotype(normal=__import__('pathlib').Path({str(target)!r}).touch(), reduce=[])"
    with pytest.raises(InputError, match="is not a literal"):
        load_genotype(text)
    assert not target.exists()


def test_load_genotype_names_files_and_json_errors(tmp_path):
    with pytest.raises(
        InputError, match=r"unknown DARTS genotype 'DARTS_v2'\. Did you mean 'DARTS_V2'\?"
    ):
        load_genotype("DARTS_v2")
    with pytest.raises(InputError, match="not a shipped name .* an existing file"):
        load_genotype(str(tmp_path / "missing.txt"))
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(InputError, match="invalid DARTS genotype JSON"):
        load_genotype(str(tmp_path / "bad.json"))
    (tmp_path / "keys.json").write_text(json.dumps({"normal": [], "reduce": [], "cells": 3}))
    with pytest.raises(InputError, match=r"unknown keys \['cells'\]"):
        load_genotype(str(tmp_path / "keys.json"))
    (tmp_path / "empty.txt").write_text("hello\n")
    with pytest.raises(InputError, match="neither JSON nor a Genotype"):
        load_genotype(str(tmp_path / "empty.txt"))
    with pytest.raises(InputError, match="cannot read a DARTS genotype from 3"):
        load_genotype(3)


# ---- supernets (TE-NAS) ------------------------------------------------------------------------


def test_tenas_supernets_layout():
    ntk = build_supernet("tenas_ntk", num_classes=1000)
    assert ntk.stem[0].in_channels == 3 and ntk.stem[0].out_channels == 1
    assert [c.reduction for c in ntk.cells] == [False, True]
    assert ntk.classifier.in_features == 8 and ntk.classifier.out_features == 1000
    assert all(
        m.affine and m.track_running_stats for m in ntk.modules() if isinstance(m, nn.BatchNorm2d)
    )
    assert ntk(torch.randn(2, 3, 32, 32)).shape == (2, 1000)
    lr = build_supernet("tenas_lr")
    assert lr.stem is None and lr.cells[0].preprocess0.op[1].in_channels == 1
    # The linear-region net sees 1-channel 3x3 crops; the reduction cell halves 3 -> 2 (odd size).
    assert lr(torch.randn(5, 1, 3, 3)).shape == (5, 10)
    with pytest.raises(InputError, match="unknown DARTS supernet preset"):
        build_supernet("tenas")


def test_alphas_are_not_named_weight():
    net = build_supernet("tenas_ntk")
    names = dict(net.named_parameters())
    assert {"arch_normal_parameters", "arch_reduce_parameters"} <= set(names)
    assert names["arch_normal_parameters"].shape == names["arch_reduce_parameters"].shape == (14, 8)
    ntk_params = [n for n in names if "weight" in n]  # TE-NAS's NTK selection
    assert ntk_params and not any(n.startswith("arch_") for n in ntk_params)


def _call_counter(net):
    calls = {}
    for cell_i, cell in enumerate(net.cells):
        for name, mixed in cell.edges.items():
            for k, op in enumerate(mixed._ops):
                op.register_forward_hook(
                    lambda *_, key=(cell_i, name, k): calls.__setitem__(key, calls.get(key, 0) + 1)
                )
    return calls


def test_pruned_ops_and_edges_are_not_computed():
    torch.manual_seed(0)
    net = build_supernet("tenas_ntk")
    normal = [[k != 0 for k in range(8)] for _ in EDGES]  # `none` pruned everywhere, as TE-NAS does
    reduce = [row[:] for row in normal]
    normal[3] = [k == 2 for k in range(8)]  # edge 1<-1 keeps sep_conv_3x3 only
    normal[5] = [False] * 8  # edge 2<-0 removed entirely
    net.set_active_ops(normal, reduce)
    assert net.active_ops() == (normal, reduce)
    calls = _call_counter(net)
    net(torch.randn(2, 3, 8, 8))
    for cell_i, mask in ((0, normal), (1, reduce)):
        for e, name in enumerate(EDGE_NAMES):
            for k in range(8):
                assert calls.get((cell_i, name, k), 0) == (1 if mask[e][k] else 0), (
                    cell_i,
                    name,
                    OPS[k],
                )


def test_fully_pruned_edge_contributes_nothing():
    torch.manual_seed(0)
    net = build_supernet("tenas_ntk").train()
    normal = [[True] * 8 for _ in EDGES]
    normal[5] = [False] * 8  # 2<-0
    net.set_active_ops(normal, [[True] * 8 for _ in EDGES])
    x = torch.randn(4, 3, 8, 8)
    before = net(x)
    with torch.no_grad():  # perturb the removed edge: no effect; perturb a live edge: an effect
        for p in net.cells[0].edges["2<-0"].parameters():
            p.add_(1.0)
    assert torch.equal(net(x), before)
    with torch.no_grad():
        for p in net.cells[0].edges["2<-1"].parameters():
            p.add_(1.0)
    assert not torch.allclose(net(x), before)
    # Without the explicit check softmax(-1000, ..., -1000) would be uniform (1/8 > 0.01).
    assert torch.softmax(mask_to_alphas(normal)[5], -1).min() > 0.01


def test_mixed_op_is_the_weighted_sum_of_active_ops():
    torch.manual_seed(0)
    mixed = darts.MixedOp(4, 1)
    x = torch.randn(3, 4, 6, 6)
    alphas = torch.tensor([PRUNED_ALPHA, 0.3, -0.2, PRUNED_ALPHA, 1.0, PRUNED_ALPHA, 0.0, -0.5])
    w = torch.softmax(alphas, -1)
    expected = sum(w[k] * op(x) for k, op in enumerate(mixed._ops) if w[k] > 0.01)
    assert torch.allclose(mixed(x, w.tolist(), w), expected, atol=1e-6)


@pytest.mark.parametrize("reduction", [False, True])
def test_single_path_supernet_cell_equals_evaluation_cell(reduction):
    # Known answer: with a genotype's op masks, the search cell computes the evaluation cell.
    from harness.spaces.darts.network import Cell

    torch.manual_seed(0)
    g = GENOTYPES["TENAS_imagenet"]
    C = 4
    cell = Cell(g, 6, 8, C, reduction, reduction_prev=False)
    search = darts.DartsSearchCell(6, 8, C, reduction, reduction_prev=False)
    search.preprocess0.load_state_dict(cell.preprocess0.state_dict())
    search.preprocess1.load_state_dict(cell.preprocess1.state_dict())
    pairs, _ = g.cell("reduce" if reduction else "normal")
    for k, (op, j) in enumerate(pairs):
        search.edges[f"{k // 2}<-{j}"]._ops[OPS.index(op)].load_state_dict(
            cell._ops[k].state_dict()
        )
    mask = genotype_to_masks(g)[1 if reduction else 0]
    alphas = mask_to_alphas(mask)
    w = torch.softmax(alphas, -1)
    s0, s1 = torch.randn(2, 6, 8, 8), torch.randn(2, 8, 8, 8)
    out = search(s0, s1, w.tolist(), w, alphas.tolist())
    assert torch.allclose(out, cell(s0, s1), atol=1e-6)


def test_genotype_to_masks_rejects_what_the_space_cannot_hold():
    twice = Genotype(
        [("sep_conv_3x3", 0), ("skip_connect", 0)] + list(DARTS_V2.normal[2:]),
        [2, 3, 4, 5],
        list(DARTS_V2.reduce),
        [2, 3, 4, 5],
    )
    with pytest.raises(InputError, match="normal node 2 takes input 0 twice"):
        genotype_to_masks(twice)
    with pytest.raises(ValueError, match=r"must be 14 edges x 8 ops"):
        build_supernet("tenas_lr").set_active_ops([[True] * 8] * 13, [[True] * 8] * 14)


# ---- alphas -> genotype (DARTS parse) ----------------------------------------------------------


@pytest.mark.parametrize("name", sorted(GENOTYPES))
def test_parse_of_pruned_alphas_returns_the_survivors(name):
    g = GENOTYPES[name]
    net = build_supernet("tenas_lr")
    net.set_active_ops(*genotype_to_masks(g))
    assert net.genotype().canonical() == g.canonical()


def test_darts_parse_known_answer():
    # Node 0 (edges 0<-0, 0<-1): `none` is the largest weight anywhere but never chosen.
    normal = torch.zeros(14, 8)
    normal[0, 0] = 9.0
    normal[0, 4] = 2.0  # 0<-0: dil_conv_3x3
    normal[1, 3] = 3.0  # 0<-1: sep_conv_5x5, stronger -> listed first
    normal[2:5, 6] = torch.tensor([1.0, 5.0, 4.0])  # node 1: inputs 1 (5.0) then 2 (4.0), avg_pool
    # Nodes 2, 3: all ties -> DARTS keeps the lowest inputs and the first non-none op (skip_connect).
    g = genotype_from_alphas(normal, torch.zeros(14, 8))
    assert g.normal[:4] == (
        ("sep_conv_5x5", 1),
        ("dil_conv_3x3", 0),
        ("avg_pool_3x3", 1),
        ("avg_pool_3x3", 2),
    )
    assert g.normal[4:] == (
        ("skip_connect", 0),
        ("skip_connect", 1),
        ("skip_connect", 0),
        ("skip_connect", 1),
    )
    assert g.normal_concat == g.reduce_concat == (2, 3, 4, 5)


# ---- ops ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [8, 7])
def test_factorized_reduce_matches_darts_and_handles_odd_sizes(size):
    torch.manual_seed(0)
    fr = darts.DartsFactorizedReduce(4, 6).eval()
    x = torch.randn(2, 4, size, size)
    out = fr(x)
    assert out.shape == (2, 6, (size + 1) // 2, (size + 1) // 2)
    if size % 2 == 0:  # DARTS's own slicing (no padding)
        r = torch.relu(x)
        ref = fr.bn(torch.cat([fr.conv_1(r), fr.conv_2(r[:, :, 1:, 1:])], dim=1))
        assert torch.equal(out, ref)


def test_op_structure_follows_darts():
    sep = darts.DARTS_OPS["sep_conv_5x5"](8, 8, 2, False, True)
    convs = [m for m in sep.modules() if isinstance(m, nn.Conv2d)]
    assert [(c.kernel_size, c.stride, c.groups) for c in convs] == [
        ((5, 5), (2, 2), 8),
        ((1, 1), (1, 1), 1),
        ((5, 5), (1, 1), 8),
        ((1, 1), (1, 1), 1),
    ]
    assert all(c.bias is None for c in convs)
    assert all(not b.affine for b in sep.modules() if isinstance(b, nn.BatchNorm2d))
    dil = darts.DARTS_OPS["dil_conv_5x5"](8, 8, 1, True, True)
    assert dil.op[1].dilation == (2, 2) and dil.op[1].padding == (4, 4)
    assert isinstance(darts.DARTS_OPS["skip_connect"](8, 8, 1, True, True), nn.Identity)
    x = torch.randn(1, 8, 8, 8)
    for name, factory in darts.DARTS_OPS.items():
        for stride in (1, 2):
            assert factory(8, 8, stride, True, True)(x).shape == (1, 8, 8 // stride, 8 // stride), (
                name
            )


# ---- evaluation networks -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, dataset, millions",
    [
        ("DARTS_V2", "cifar10", 3.3),  # DARTS paper: 3.3 M
        ("DARTS_V2", "imagenet", 4.7),  # DARTS paper: 4.7 M
        ("TENAS_imagenet", "imagenet", 5.4),  # TE-NAS paper: 5.4 M
        pytest.param(
            "TENAS_cifar10",
            "cifar10",
            3.8,
            marks=pytest.mark.xfail(
                strict=True,
                reason=(
                    "TE-NAS reports 3.8 M, but its published TENAS_cifar10 genotype (verified verbatim above) gives "
                    "4.14 M in DARTS's CIFAR network; TENAS_imagenet gives 3.78 M there"
                ),
            ),
        ),
    ],
)
def test_parameter_counts_match_the_papers(name, dataset, millions):
    params = count_parameters(build_network(name, dataset))
    assert abs(params / 1e6 - millions) <= (0.05 if name == "DARTS_V2" else 0.1)


def _darts_cifar_params_by_hand(
    genotype: Genotype, C: int = 36, layers: int = 20, classes: int = 10
) -> int:
    """DARTS's CIFAR network counted from its op definitions (affine BN, no auxiliary head):
    sep k: 2(Ck^2 + C^2 + 2C); dil k: Ck^2 + C^2 + 2C; stride-2 skip (FactorizedReduce): C^2 + 2C;
    each cell's two 1x1 preprocessing convs; a 3C-channel 3x3 stem; a linear classifier."""

    def op(name, c, stride):
        k = int(name[-1]) if "conv" in name else 0
        return {
            "sep": 2 * (c * k * k + c * c + 2 * c),
            "dil": c * k * k + c * c + 2 * c,
            "ski": 0 if stride == 1 else c * c + 2 * c,
        }.get(name[:3], 0)

    stem = 3 * C
    total, c_pp, c_p, c = 27 * stem + 2 * stem, stem, stem, C
    for i in range(layers):
        reduction = i in (layers // 3, 2 * layers // 3)
        c = 2 * c if reduction else c
        total += c_pp * c + 2 * c + c_p * c + 2 * c
        pairs = genotype.reduce if reduction else genotype.normal
        total += sum(op(name, c, 2 if reduction and j < 2 else 1) for name, j in pairs)
        c_pp, c_p = c_p, len(genotype.normal_concat) * c
    return total + c_p * classes + classes


@pytest.mark.parametrize("name", sorted(GENOTYPES))
def test_cifar_parameter_count_equals_the_count_by_hand(name):
    # An independent count from DARTS's op formulas: TENAS_cifar10's 4.14 M is the genotype's, not ours.
    assert count_parameters(build_network(name, "cifar10")) == _darts_cifar_params_by_hand(
        GENOTYPES[name]
    )


def test_imagenet_networks_are_mobile_setting():
    for name in ("TENAS_imagenet", "DARTS_V2"):
        info = summarize(name, "imagenet")
        assert info["macs"] < 600e6 and info["layers"] == 14 and info["channels"] == 48


def test_macs_are_conv_and_linear_multiply_adds():
    # Cross-check the flop counter against per-layer multiply-adds recorded with hooks.
    torch.manual_seed(0)
    net = build_network("DARTS_V2", "cifar10", C=4, layers=5).eval()
    total = 0

    def hook(mod, _, out):
        nonlocal total
        total += out.numel() * (
            mod.weight[0].numel() if isinstance(mod, nn.Conv2d) else mod.in_features
        )

    for m in net.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            m.register_forward_hook(hook)
    macs = count_macs(net, 32)
    assert macs == total and macs > 0


def test_cifar_network_layout_and_darts_parameter_names():
    net = build_network("DARTS_V2", "cifar10")
    assert len(net.cells) == 20 and net.reduction_layers == (6, 13)
    assert [c.reduction for c in net.cells].count(True) == 2
    keys = set(net.state_dict())
    for key in (
        "stem.0.weight",
        "cells.0.preprocess0.op.1.weight",
        "cells.0._ops.0.op.1.weight",
        "cells.7.preprocess0.conv_1.weight",
        "auxiliary_head.features.2.weight",
        "classifier.weight",
    ):
        assert key in keys
    assert count_parameters(net, include_auxiliary=True) > count_parameters(net)


def test_forward_auxiliary_and_drop_path():
    torch.manual_seed(0)
    net = build_network("TENAS_cifar10", "cifar10", C=4, layers=5)
    x = torch.randn(3, 3, 32, 32)
    logits, aux = net(x, return_aux=True)
    assert logits.shape == aux.shape == (3, 10)
    net.eval()
    assert net(x, return_aux=True)[1] is None and net(x).shape == (3, 10)
    inet = NetworkImageNet("TENAS_imagenet", C=8, num_classes=5, layers=3, auxiliary=True)
    logits, aux = inet(torch.randn(2, 3, 224, 224), return_aux=True)  # aux head on the 7x7 map
    assert logits.shape == aux.shape == (2, 5)
    assert isinstance(NetworkCIFAR("DARTS_V2", C=4, layers=3), NetworkCIFAR)


def test_drop_path_drops_whole_samples_and_rescales():
    torch.manual_seed(0)
    out = drop_path(torch.ones(4000, 2, 3, 3), 0.3)
    per_sample = out.flatten(1)
    kept = per_sample[:, 0] > 0
    assert torch.allclose(per_sample[kept], torch.full_like(per_sample[kept], 1 / 0.7))
    assert torch.all(per_sample[~kept] == 0)
    assert abs((~kept).float().mean().item() - 0.3) < 0.03
    x = torch.randn(5, 2, 3, 3)
    assert drop_path(x, 0.0) is x


def test_summary_counts():
    info = summarize("DARTS_V2", "cifar10")
    assert info["params"] == count_parameters(build_network("DARTS_V2", "cifar10"))
    assert info["layers"] == 20 and info["channels"] == 36 and info["image_size"] == 32
