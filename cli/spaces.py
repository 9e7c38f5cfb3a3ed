"""`harness spaces`: describe the registered search spaces; `--list` writes an enumerable space's
cell table as CSV."""

from __future__ import annotations

import csv
import json
import sys

import click

from harness.spaces.registry import SpaceSpec, get_space, list_spaces, sweepable_spaces


def _info(spec: SpaceSpec) -> dict:
    """The space's own summary, with what the registry says it offers."""
    summary = spec.describe()
    return {
        "space": summary.pop("space", spec.name),
        "description": spec.description,
        **summary,
        "network_presets": list(spec.network_presets),
        "supernet_presets": list(spec.supernet_presets),
        "enumerable": spec.enumerable,
    }


def _cell_rows(spec: SpaceSpec):
    for index, (cell, key) in enumerate(zip(spec.all_cells(), spec.isomorphism_keys())):
        yield {
            "index": index,
            "arch_str": str(cell),
            "unique_key": key,
            "params": spec.param_count(cell),
        }


@click.command("spaces")
@click.argument("space", required=False)
@click.option(
    "--list",
    "list_cells",
    is_flag=True,
    help="Write every cell of an enumerable SPACE as CSV to stdout: index,arch_str,unique_key,params "
    "(nb201: params = benchmark network, C=16, N=5, 10-class head).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the description as JSON.")
def command(space: str | None, list_cells: bool, as_json: bool) -> None:
    """Describe the search spaces (cells, ops, edges, unique cells, network presets)."""
    specs = [get_space(space)] if space else [get_space(name) for name in list_spaces()]
    if list_cells:
        if space is None or not specs[0].enumerable:
            none = "" if space is None else f"; {space!r} has none"
            raise click.UsageError(
                f"--list needs a SPACE with an enumerable cell list: "
                f"{', '.join(sweepable_spaces())}{none}."
            )
        writer = csv.DictWriter(
            sys.stdout,
            fieldnames=["index", "arch_str", "unique_key", "params"],
            lineterminator="\n",
        )
        writer.writeheader()
        writer.writerows(_cell_rows(specs[0]))
        return
    infos = [_info(spec) for spec in specs]
    if as_json:
        click.echo(json.dumps(infos if space is None else infos[0], indent=2))
        return
    for info in infos:
        click.echo(f"{info['space']}:")
        for key, value in info.items():
            if key != "space":
                shown = ", ".join(map(str, value)) if isinstance(value, list) else value
                click.echo(f"  {key}: {shown}")
