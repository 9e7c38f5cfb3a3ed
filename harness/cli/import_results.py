"""`harness import`: load exported per-repeat tables back into a results store, to continue a sweep."""

from __future__ import annotations

import click


@click.command("import")
@click.option("--results", "tables", multiple=True, required=True,
              help="A table written by `harness export --per-repeat` (repeatable), with its .configs.json.")
@click.option("--out", required=True, help="Results store (SQLite) to create or extend.")
def command(tables, out):
    """Load exported per-repeat results into a store, so a sweep can continue where they stopped."""
    from harness.store import ResultStore, import_table

    with ResultStore(out) as store:
        for table in tables:
            n = import_table(table, store)
            click.echo(f"imported {n} rows from {table} into {out}", err=True)
