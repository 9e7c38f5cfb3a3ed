"""`harness import`: load per-repeat exports and other stores into a results store, all or nothing."""

from __future__ import annotations


import click


@click.command("import")
@click.option(
    "--results",
    "sources",
    multiple=True,
    metavar="FILE",
    help="A per-repeat export (`harness export --per-repeat`, with its .configs.json sidecar) or a "
    "results store (.sqlite); repeat the option or list more FILEs after it, e.g. "
    "--results shard_*.sqlite.",
)
@click.argument("more", nargs=-1, type=click.Path(), metavar="[FILE]...")
@click.option("--out", required=True, help="Results store (SQLite) to create or extend.")
@click.option(
    "--replace",
    is_flag=True,
    help="Overwrite stored rows that conflict with incoming ones (same key, another value); "
    "without it a conflict is an error and nothing is imported.",
)
@click.option(
    "--accept-partial",
    is_flag=True,
    help="Read exports whose sidecar is missing or does not match them (incomplete exports).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def command(sources, more, out, replace, accept_partial, as_json):
    """Import exports and stores into one store: all rows or none.

    Every input is read and checked first. Rows equal to a stored row of the same key (cell string,
    status and value bit for bit) are counted as identical and kept once; the configurations, proxy
    directions and (from stores) run records of the rows written are carried over, all in one
    transaction. Merge shards with `harness import --results shard_*.sqlite --out all.sqlite`.
    """
    from harness.importer import import_results

    summary = import_results([*sources, *more], out, replace=replace, accept_partial=accept_partial)
    click.echo(summary.report(as_json))
