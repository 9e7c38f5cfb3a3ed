"""`harness spaces`: describe the search spaces; `--list` writes the NB201 cell table as CSV."""

from __future__ import annotations

import csv
import importlib
import json
import sys

import click

from harness.errors import unknown_name

# Space name -> module exposing `describe()` (and, for listable spaces, `cell_rows()`).
SPACE_MODULES = {"nb201": "harness.spaces.nb201", "darts": "harness.spaces.darts"}


def _nb201_rows():
    from harness.spaces import nb201
    from harness.spaces.nb201_net import param_count

    for arch, key in zip(nb201.all_archs(), nb201.unique_keys()):
        yield {"index": arch.index, "arch_str": str(arch), "unique_key": key, "params": param_count(arch)}


@click.command("spaces")
@click.argument("space", required=False)
@click.option("--list", "list_cells", is_flag=True,
              help="Write every cell as CSV to stdout: index,arch_str,unique_key,params "
                   "(params = benchmark network, C=16, N=5, 10-class head).")
@click.option("--json", "as_json", is_flag=True, help="Print the description as JSON.")
def command(space: str | None, list_cells: bool, as_json: bool) -> None:
    """Describe the search spaces (cells, ops, edges, unique cells)."""
    names = [space] if space else list(SPACE_MODULES)
    for name in names:
        if name not in SPACE_MODULES:
            raise unknown_name("space", name, SPACE_MODULES)
    if list_cells:
        if names != ["nb201"]:
            raise click.UsageError("--list needs SPACE = nb201 (the only enumerable space).")
        writer = csv.DictWriter(sys.stdout, fieldnames=["index", "arch_str", "unique_key", "params"],
                                lineterminator="\n")
        writer.writeheader()
        writer.writerows(_nb201_rows())
        return
    infos = [importlib.import_module(SPACE_MODULES[n]).describe() for n in names]
    if as_json:
        click.echo(json.dumps(infos if space is None else infos[0], indent=2))
        return
    for info in infos:
        click.echo(f"{info['space']}:")
        for key, value in info.items():
            if key != "space":
                shown = ", ".join(map(str, value)) if isinstance(value, list) else value
                click.echo(f"  {key}: {shown}")
