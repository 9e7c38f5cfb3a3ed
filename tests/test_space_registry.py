"""The search-space registry: what each space offers, its references resolve, enumerable spaces are
what sweeps accept, and `harness spaces` / `run-proxies --space` read it."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch
from click.testing import CliRunner

from cli import cli
from harness.errors import InputError
from harness.registry import DuplicateNameError
from harness.selection import parse_indices, representatives, select_cells
from harness.spaces.registry import (
    ENUMERABLE_FIELDS,
    SPACES,
    Ref,
    SpaceSpec,
    get_space,
    get_sweepable_space,
    list_spaces,
    register_space,
    sweepable_spaces,
)
from tests.conftest import REPO

SPEC_REFS = [
    (name, field)
    for name in list_spaces()
    for field in (
        "describe",
        "parse_cell",
        "build_network",
        "build_supernet",
        "published_cells",
        *ENUMERABLE_FIELDS[1:],
    )
]


def test_the_registered_spaces():
    assert list_spaces() == ["nb201", "darts"]
    assert sweepable_spaces() == ["nb201"]
    assert get_space("nb201").enumerable and not get_space("darts").enumerable
    assert get_space("nb201").num_cells == 15625
    with pytest.raises(
        InputError, match=r"unknown space 'nb21'\. Did you mean 'nb201'\? Available: darts, nb201\."
    ):
        get_space("nb21")


def test_reading_the_registry_imports_no_torch_and_no_network_module():
    code = (
        "import sys; from harness.spaces.registry import SPACES; [s.description for s in SPACES]; "
        "bad = sorted(m for m in sys.modules if m.split('.')[0] == 'torch' or m.startswith("
        "('harness.spaces.darts', 'harness.spaces.nb201_net'))); print(','.join(bad)); sys.exit(1 if bad else 0)"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert run.returncode == 0, run.stdout + run.stderr[-300:]


@pytest.mark.parametrize("name, field", SPEC_REFS)
def test_every_reference_resolves(name, field):
    ref = getattr(get_space(name), field)
    if ref is None:
        return
    assert isinstance(ref, Ref)
    target = ref.load()
    assert isinstance(target, dict) if field == "published_cells" else callable(target), str(ref)


def test_presets_are_the_builders_own():
    from harness.spaces import darts, nb201_net

    assert (
        get_space("nb201").network_presets
        == get_space("nb201").supernet_presets
        == tuple(nb201_net.PRESETS)
    )
    assert get_space("darts").network_presets == tuple(darts.NETWORK_PRESETS)
    assert get_space("darts").supernet_presets == tuple(darts.SUPERNET_PRESETS)


def test_spaces_build_their_networks_through_the_registry():
    torch.manual_seed(0)
    nb = get_space("nb201")
    cell = nb.parse_cell(
        "|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|+|skip_connect~0|none~1|skip_connect~2|"
    )
    assert nb.index_of(cell) == 11472 and nb.cell_from_index(11472) == cell
    assert nb.build_network(cell, "tenas_ntk")(torch.randn(2, 3, 8, 8)).shape == (2, 10)
    assert nb.build_supernet("tenas_lr")(torch.randn(2, 1, 3, 3)).shape == (2, 10)
    dt = get_space("darts")
    published = dt.published_cells.load()
    genotype = dt.parse_cell("DARTS_V2")
    assert genotype == published["DARTS_V2"] and dt.parse_cell(str(genotype)) == genotype
    net = dt.build_network(genotype, "cifar10", C=4, layers=3, auxiliary=False).eval()
    assert net(torch.randn(2, 3, 16, 16)).shape == (2, 10)
    assert dt.build_supernet("tenas_ntk")(torch.randn(2, 3, 8, 8)).shape == (2, 10)


def test_an_enumerable_space_lists_and_keys_every_cell():
    nb = get_space("nb201")
    cells = nb.all_cells()
    keys = nb.isomorphism_keys()
    assert len(cells) == len(keys) == nb.num_cells
    assert [nb.index_of(c) for c in cells[:50]] == list(range(50))
    assert nb.param_count(cells[0]) > 0


def test_a_spec_is_enumerable_with_all_its_fields_or_none():
    nb = get_space("nb201")
    base = {
        f: getattr(nb, f)
        for f in (
            "describe",
            "parse_cell",
            "build_network",
            "network_presets",
            "build_supernet",
            "supernet_presets",
        )
    }
    with pytest.raises(ValueError, match="missing cell_from_index, index_of, all_cells"):
        SpaceSpec("half", "a space", num_cells=3, **base)
    assert not SpaceSpec("none", "a space", **base).enumerable
    with pytest.raises(DuplicateNameError, match="space 'nb201' is registered twice"):
        register_space(SpaceSpec("nb201", "again", **base))
    assert len(SPACES) == 2
    with pytest.raises(ValueError, match="'module:name'"):
        Ref("harness.spaces.nb201")


@pytest.mark.parametrize(
    "name, message",
    [
        (
            "darts",
            "run-proxies supports --space nb201 (it needs an enumerable cell list); 'darts' has none.",
        ),
        (
            "nb101",
            "unknown space 'nb101'. Did you mean 'nb201'? run-proxies supports --space nb201",
        ),
    ],
)
def test_only_enumerable_spaces_are_swept(name, message):
    with pytest.raises(InputError) as err:
        get_sweepable_space(name)
    assert message in str(err.value) and "\n" not in str(err.value)
    for select in (
        lambda: parse_indices("0-3", name),
        lambda: select_cells(limit=2, space=name),
        lambda: representatives([0, 1], name),
    ):
        with pytest.raises(InputError, match="supports --space nb201"):
            select()


def test_run_proxies_names_the_sweepable_spaces(tmp_path):
    result = CliRunner().invoke(
        cli,
        [
            "run-proxies",
            "--space",
            "darts",
            "--proxies",
            "params",
            "--out",
            str(tmp_path / "x.sqlite"),
        ],
    )
    assert result.exit_code == 2, result.output
    assert result.output.strip().splitlines() == [
        "Error: run-proxies supports --space nb201 (it needs an enumerable cell list); 'darts' has none."
    ]
    assert not (tmp_path / "x.sqlite").exists()


def test_harness_spaces_describes_every_registered_space():
    runner = CliRunner()
    result = runner.invoke(cli, ["spaces"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert [line for line in lines if not line.startswith(" ")] == ["nb201:", "darts:"]
    for name in list_spaces():
        assert f"  description: {get_space(name).description}" in lines
    assert "  cells: 15625" in lines and "  unique_cells: 6466" in lines
    assert "  shipped_genotypes: DARTS_V2, TENAS_cifar10, TENAS_imagenet" in lines
    info = json.loads(runner.invoke(cli, ["spaces", "darts", "--json"]).output)
    assert (
        info["space"] == "darts"
        and info["enumerable"] is False
        and info["supernet_presets"] == ["tenas_ntk", "tenas_lr"]
    )


@pytest.mark.parametrize(
    "args, message",
    [
        (
            ["spaces", "darts", "--list"],
            "--list needs a SPACE with an enumerable cell list: nb201; 'darts' has none.",
        ),
        (["spaces", "--list"], "--list needs a SPACE with an enumerable cell list: nb201."),
        (
            ["spaces", "nb21"],
            "unknown space 'nb21'. Did you mean 'nb201'? Available: darts, nb201.",
        ),
    ],
)
def test_harness_spaces_rejects_what_it_cannot_do(args, message):
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2 and message in result.output, result.output


def test_harness_spaces_lists_the_cells_of_an_enumerable_space():
    result = CliRunner().invoke(cli, ["spaces", "nb201", "--list"])
    assert result.exit_code == 0
    lines = result.output.splitlines()
    assert lines[0] == "index,arch_str,unique_key,params" and len(lines) == 15626
    assert lines[11473].startswith(
        "11472,|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|+|skip_connect~0|none~1|skip_connect~2|,"
    )
