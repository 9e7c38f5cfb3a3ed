"""The TE-NAS search on the DARTS space: the adapter (masks <-> alphas, final-state checks, the DARTS
parse), the §8 edge pruning on the real CIFAR-10 images and on a generated ImageNet ImageFolder
tree, `harness search --space darts` errors, and (slow) the whole search end to end with reduced
settings: 7 -> 4 -> 1 ops per edge on CIFAR-10, 7 -> 5 -> 3 -> 1 on ImageNet, then two inputs per
node, a valid genotype that `harness train` reads, and the same genotype from the same seed."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from cli import cli
from harness.errors import InputError
from harness.spaces.darts import (
    CELL_TYPES,
    EDGES,
    GENOTYPES,
    NODE_EDGE_GROUPS,
    OPS,
    Genotype,
    genotype_to_masks,
    load_genotype,
    parse_genotype,
)
from search.darts_adapter import DARTS_DEFAULTS, DartsPruningSpace, check_final, in_degrees
from search.runs import SearchSpec, resolve_settings
from tests.test_search_cli import _one_error_line
from search.runs import load_search_images as _load_search_images
from search.tenas import NONE_INDEX, TenasConfig, TenasMeter, prune_edge_groups, run_tenas

# Tiny but complete: 2-4 image NTK batches, 1 repeat, 2 x 16 crops.
QUICK = {
    "batch_size": 2,
    "repeats": 1,
    "lr_samples": 16,
    "lr_batches": 2,
    "ntk_engine": "batched",
    "trajectory": False,
}
QUICK_CLI = [
    "--batch-size",
    "2",
    "--repeats",
    "1",
    "--lr-samples",
    "16",
    "--lr-batches",
    "2",
    "--ntk-engine",
    "batched",
    "--threads",
    "1",
]
N_EDGES, N_OPS = len(EDGES), len(OPS)


def darts_config(dataset: str, **overrides) -> TenasConfig:
    """The settings `harness search --space darts` resolves for `dataset` and `overrides`."""
    return resolve_settings("tenas", "darts", dataset, overrides)


def method_label(config: TenasConfig, dataset: str) -> str:
    return SearchSpec("tenas", "darts", dataset, 0, config).method


def load_search_images(dataset: str, data_dir=None, source=None):
    return _load_search_images("darts", dataset, data_dir, source)


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def cifar():
    return load_search_images("cifar10", source="npz")


def make_image_folder(root, classes: int = 5, per_class: int = 4, seed: int = 0):
    """A tiny ImageNet training tree ``<root>/imagenet/train/<wnid>/<name>.png`` of random
    non-square RGB images (the harness resizes them to 32x32, as TE-NAS searches ImageNet)."""
    rng = np.random.default_rng(seed)
    for c in range(classes):
        folder = root / "imagenet" / "train" / f"n{c:08d}"
        folder.mkdir(parents=True)
        for k in range(per_class):
            pixels = rng.integers(0, 256, size=(30 + c, 40 + k, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(folder / f"n{c:08d}_{k}.png")
    return root


def random_single_path(rng: np.random.Generator) -> np.ndarray:
    """Every edge of both cell types with one random non-`none` op (the state after op pruning)."""
    masks = np.zeros((len(CELL_TYPES), N_EDGES, N_OPS), dtype=bool)
    for ct in range(len(CELL_TYPES)):
        for e in range(N_EDGES):
            masks[ct, e, 1 + rng.integers(N_OPS - 1)] = True
    return masks


def _check_genotype(genotype: Genotype, tmp_path) -> None:
    """Valid DARTS genotype: no `none`, two distinct inputs per node, round-trips through the
    notation, JSON and a search-result-shaped file that `harness train` reads."""
    for kind in CELL_TYPES:
        pairs, concat = genotype.cell(kind)
        assert list(concat) == [2, 3, 4, 5]
        assert all(op != "none" for op, _ in pairs)
        for k in range(0, 8, 2):
            assert pairs[k][1] != pairs[k + 1][1]
    assert parse_genotype(str(genotype)) == genotype
    assert Genotype.from_dict(genotype.to_dict()) == genotype
    path = tmp_path / "result.json"
    path.write_text(json.dumps({"genotype": str(genotype)}))
    assert load_genotype(str(path)) == genotype


# ---------------------------------------------------------------------------- the adapter


def test_masks_set_alphas_and_remove_dead_edges():
    space = DartsPruningSpace("cifar10")
    rng = np.random.default_rng(0)
    masks = rng.random((2, N_EDGES, N_OPS)) < 0.5
    masks[:, 3] = False  # two fully pruned edges
    masks[:, 7] = False
    for net in (space.build_ntk_net(), space.build_lr_net()):
        space.set_masks(net, masks)
        assert np.array_equal(np.array(net.active_ops()), masks)
        for alpha, mask in zip(net.alphas(), masks):
            assert torch.equal(alpha.detach() == 0, torch.from_numpy(mask))
            assert (alpha.detach()[~torch.from_numpy(mask)] == -1000).all()
    with pytest.raises(ValueError, match="shape"):
        space.set_masks(net, masks[:1])


def test_supernets_follow_the_official_layout():
    ntk = DartsPruningSpace("cifar10").build_ntk_net()
    assert ntk.stem[0].in_channels == 3 and ntk.stem[0].out_channels == 1
    assert [c.reduction for c in ntk.cells] == [False, True]
    assert ntk.classifier.out_features == 10
    assert DartsPruningSpace("imagenet").build_ntk_net().classifier.out_features == 1000
    thin = DartsPruningSpace("imagenet").build_lr_net()
    assert thin.stem is None and thin.cells[0].preprocess0.op[1].in_channels == 1


@pytest.mark.parametrize("name", sorted(GENOTYPES))
def test_final_genotype_is_the_darts_parse_of_the_survivors(name):
    masks = np.array(genotype_to_masks(name))
    assert in_degrees(masks) == [[2, 2, 2, 2], [2, 2, 2, 2]]
    found = DartsPruningSpace("cifar10").final_genotype(masks)
    assert found.canonical() == GENOTYPES[name].canonical()


def test_unfinished_states_are_refused_with_the_reason():
    good = np.array(genotype_to_masks("TENAS_cifar10"))
    three_inputs = good.copy()
    three_inputs[0, 3, OPS.index("skip_connect")] = True  # node 3 (edges 2-4) gains input 1
    two_ops = good.copy()
    two_ops[1, 0, OPS.index("max_pool_3x3")] = True
    with_none = good.copy()
    with_none[0, 0] = False
    with_none[0, 0, NONE_INDEX] = True
    one_input = good.copy()
    one_input[1, 13] = False
    for masks, message in [
        (three_inputs, "normal node 3 has 3 incoming edges"),
        (two_ops, "reduce edge 0<-0 still has 2 ops"),
        (with_none, "keeps 'none'"),
        (one_input, "reduce node 5 has 1 incoming edges"),
    ]:
        with pytest.raises(InputError, match=message):
            check_final(masks)
    check_final(good)


def test_official_settings_per_dataset():
    assert (
        DARTS_DEFAULTS["cifar10"]["prune_number"] == 3
        and DARTS_DEFAULTS["cifar10"]["batch_size"] == 14
    )
    assert (
        DARTS_DEFAULTS["imagenet"]["prune_number"] == 2
        and DARTS_DEFAULTS["imagenet"]["batch_size"] == 24
    )
    official = darts_config("cifar10")
    assert (official.repeats, official.lr_samples, official.lr_batches, official.precision) == (
        3,
        1000,
        3,
        3,
    )
    assert method_label(official, "cifar10") == "TE-NAS (ours)"
    assert method_label(darts_config("cifar10", ntk_engine="oracle"), "cifar10") == "TE-NAS (ours)"
    assert (
        method_label(darts_config("imagenet", repeats=1), "imagenet") == "TE-NAS (ours) [repeats=1]"
    )
    with pytest.raises(InputError, match="unknown dataset for --space darts 'cifar100'"):
        darts_config("cifar100")


# ---------------------------------------------------------------------------- §8 edge pruning


def _edge_phase(space, images, masks, seed):
    config = TenasConfig(**QUICK, prune_number=DARTS_DEFAULTS[space.dataset]["prune_number"])
    torch.manual_seed(seed)
    meter = TenasMeter(space, config, images, seed=seed)
    return prune_edge_groups(meter, masks, config, space.edge_groups)


def _check_edge_phase(before, after, groups):
    assert in_degrees(after) == [[2, 2, 2, 2], [2, 2, 2, 2]]
    assert not (after & ~before).any()  # nothing switched on
    live = after.any(axis=2)
    assert np.array_equal(after[live], before[live])  # survivors keep their op
    # groups of 3, 4, 5 incoming edges (node 2 has only 2), normal then reduce, in order
    assert [(g["cell_type"], tuple(g["group"])) for g in groups] == [
        (kind, g) for kind in CELL_TYPES for g in NODE_EDGE_GROUPS[1:]
    ]
    for g in groups:
        start, stop = g["group"]
        assert len(g["candidates"]) == stop - start
        assert len(g["pruned_edges"]) == stop - start - 2
        # the two edges kept are the two whose removal ranks worst (last in rank-sum order)
        kept = [c for c in g["candidates"] if not c["pruned"]]
        assert sorted(c["order"] for c in kept) == [stop - start - 2, stop - start - 1]


def test_edge_pruning_keeps_two_inputs_per_node_and_is_seeded(cifar, tmp_path):
    space = DartsPruningSpace("cifar10")
    before = random_single_path(np.random.default_rng(1))
    after, groups = _edge_phase(space, cifar, before, seed=5)
    _check_edge_phase(before, after, groups)
    _check_genotype(space.final_genotype(after), tmp_path)
    again, groups_again = _edge_phase(space, cifar, before, seed=5)
    assert np.array_equal(again, after)
    assert [c["dkappa"] for g in groups_again for c in g["candidates"]] == [
        c["dkappa"] for g in groups for c in g["candidates"]
    ]


def test_imagenet_folder_feeds_the_search(tmp_path):
    make_image_folder(tmp_path)
    images = load_search_images("imagenet", tmp_path)
    assert (len(images), images.image_size, images.num_classes) == (20, 32, 5)
    space = DartsPruningSpace("imagenet")  # the NTK net keeps ImageNet's 1000 outputs
    before = random_single_path(np.random.default_rng(2))
    after, groups = _edge_phase(space, images, before, seed=0)
    _check_edge_phase(before, after, groups)
    _check_genotype(space.final_genotype(after), tmp_path)


# ---------------------------------------------------------------------------- CLI errors


def _run(*args):
    return CliRunner().invoke(cli, ["search", "--space", "darts", *map(str, args)])


@pytest.mark.parametrize(
    "args, needle",
    [
        (
            ["--algo", "tenas", "--dataset", "ImageNet16-120"],
            "unknown dataset for --space darts 'ImageNet16-120'. Available: cifar10, imagenet.",
        ),
        (
            ["--algo", "tenas", "--dataset", "cifar100"],
            "unknown dataset for --space darts 'cifar100'",
        ),
        (
            ["--algo", "random"],
            "--space darts supports --algo tenas only; got --algo random (which runs on nb201 only)",
        ),
        (["--algo", "tenass"], "unknown algorithm 'tenass'"),
        ([], "--algo is required"),
        (["--algo", "tenas", "--leaderboard"], "DARTS has no benchmark"),
        (["--algo", "tenas", "--bench", "x.csv"], "--bench applies to --space nb201 only"),
        (
            ["--algo", "tenas", "--proxy", "naswot"],
            "--proxy applies to --algo best-of-n / evolution only",
        ),
        (["--algo", "tenas", "--repeats", "0"], "repeats must be a positive integer"),
        (["--algo", "tenas", "--seeds", "x"], "invalid seed spec 'x'"),
    ],
)
def test_bad_input_exits_2_with_one_line(args, needle, tmp_path):
    result = _run(*args, "--out", tmp_path)
    assert result.exit_code == 2, result.output
    assert needle in _one_error_line(result)
    assert not any(tmp_path.iterdir())


def test_imagenet_without_a_folder_says_where_it_looked(tmp_path):
    (tmp_path / "data").mkdir()
    result = _run(
        "--algo",
        "tenas",
        "--dataset",
        "imagenet",
        "--data-dir",
        tmp_path / "data",
        "--out",
        tmp_path / "out",
    )
    assert result.exit_code == 2
    line = _one_error_line(result)
    assert "imagenet/train" in line and "ImageFolder" in line
    assert not (tmp_path / "out").exists()


# ---------------------------------------------------------------------------- end to end (slow)


def _search_cli(out, *args):
    result = CliRunner().invoke(
        cli,
        [
            "search",
            "--algo",
            "tenas",
            "--space",
            "darts",
            "--seeds",
            "0",
            "--out",
            str(out),
            "--quiet",
            "--json",
            *QUICK_CLI,
            *map(str, args),
        ],
    )
    assert result.exit_code == 0, result.output
    (record,) = json.loads(result.output)
    return record


def _check_record(record, ops_per_round, tmp_path):
    """The per-round record of a whole search: `ops_per_round` active ops per edge after each op
    round, then the edge round; genotype, sizes and files."""
    rounds = record["rounds"]
    assert [r["round"] for r in rounds] == list(range(len(ops_per_round) + 1))
    for r, n_ops in zip(rounds, ops_per_round):
        assert all(len(ops) == n_ops for cell in r["active_ops"] for ops in cell)
        assert all("none" not in ops for cell in r["active_ops"] for ops in cell)
        assert all(np.isfinite(r[k]) for k in ("kappa", "regions"))  # trajectory of the supernet
    for before, r, n_ops in zip(rounds, rounds[1:], ops_per_round[1:]):
        n_before = len(before["active_ops"][0][0])
        assert r["prune_number"] == n_before - n_ops
        assert len(r["candidates"]) == 2 * N_EDGES * n_before  # every op of every edge, both cells
        assert len(r["pruned"]) == 2 * N_EDGES * (n_before - n_ops)
    last = rounds[-1]
    assert len(last["edge_groups"]) == 6 and last["candidates"] == []
    degrees = [
        [sum(bool(cell[e]) for e in range(a, b)) for a, b in NODE_EDGE_GROUPS]
        for cell in last["active_ops"]
    ]
    assert degrees == [[2, 2, 2, 2], [2, 2, 2, 2]]
    genotype = parse_genotype(record["genotype"])
    assert Genotype.from_dict(record["genotype_json"]) == genotype
    assert last["genotype"] == record["genotype"]
    _check_genotype(genotype, tmp_path)
    assert load_genotype(record["_path"]) == genotype  # the result.json itself
    assert (
        record["sizes"]["cifar10"]["layers"] == 20 and record["sizes"]["imagenet"]["layers"] == 14
    )
    assert (
        record["search_seconds"] > 0 and record["search_days"] == record["search_seconds"] / 86400
    )
    assert record["schema"] == "harness.search.darts/1" and record["space"] == "darts"
    return genotype


@pytest.fixture(scope="module")
def cifar_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("darts_cifar")
    record = _search_cli(out, "--dataset", "cifar10", "--source", "npz")
    record["_path"] = str(out / "darts" / "cifar10" / "tenas" / "seed0" / "result.json")
    return out, record


@pytest.mark.slow
def test_cifar10_search_end_to_end(cifar_run, tmp_path):
    out, record = cifar_run
    assert record["settings"]["prune_number"] == 3
    genotype = _check_record(record, [7, 4, 1], tmp_path)
    folder = out / "darts" / "cifar10" / "tenas" / "seed0"
    assert {p.name for p in folder.iterdir()} == {"result.json", "config.json", "log.txt"}
    # harness train reads the result file and sizes the same network the record reports
    result = CliRunner().invoke(
        cli,
        [
            "train",
            "--space",
            "darts",
            "--genotype",
            str(folder / "result.json"),
            "--dataset",
            "cifar10",
            "--summary",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert summary["params"] == record["sizes"]["cifar10"]["params"]
    assert parse_genotype(summary["genotype"]) == genotype
    # the same command again finds the finished run and does not rerun it, also with another
    # NTK engine (speed only), as an NB201 search resumes
    for extra in ([], ["--ntk-engine", "oracle"]):
        again = CliRunner().invoke(
            cli,
            [
                *("search", "--algo", "tenas", "--space", "darts", "--seeds", "0"),
                *("--out", str(out), "--source", "npz", "--quiet", *QUICK_CLI, *extra),
            ],
        )
        assert again.exit_code == 0 and "already done; not rerun" in again.output, again.output


@pytest.mark.slow
def test_same_seed_same_genotype(cifar_run, cifar):
    _, record = cifar_run
    space = DartsPruningSpace("cifar10")
    config = TenasConfig(**record["settings"])  # exactly the CLI run's settings
    outcome = run_tenas(space, config, cifar, seed=0, edge_groups=space.edge_groups)
    assert str(space.final_genotype(outcome.masks)) == record["genotype"]
    assert [r["pruned"] for r in outcome.rounds] == [r["pruned"] for r in record["rounds"]]


@pytest.mark.slow
def test_imagenet_folder_search_end_to_end(tmp_path):
    make_image_folder(tmp_path / "data")
    record = _search_cli(
        tmp_path / "out",
        "--dataset",
        "imagenet",
        "--data-dir",
        tmp_path / "data",
        "--batch-size",
        "4",
        "--lr-samples",
        "8",
    )
    record["_path"] = str(
        tmp_path / "out" / "darts" / "imagenet" / "tenas" / "seed0" / "result.json"
    )
    assert record["settings"]["prune_number"] == 2 and record["settings"]["batch_size"] == 4
    assert record["options"]["ntk_num_classes"] == 1000 and record["data"]["num_classes"] == 5
    _check_record(record, [7, 5, 3, 1], tmp_path)
