"""`harness proxies`: the registered proxies with their direction and needs."""

from __future__ import annotations

import json

import click

from cli.plugin_option import plugin_option


@click.command("proxies")
@click.argument("pattern", default="*")
@plugin_option()
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "markdown", "json"]),
    default="table",
    show_default=True,
)
def command(pattern, fmt):
    """List the registered proxies (wildcards allowed) with direction, needs and reference."""
    import proxies as registry

    specs = [registry.get_proxy(n) for n in registry.list_proxies(pattern)]
    if not specs:
        registry.get_proxy(pattern)  # raises the unknown-name error with suggestions
    rows = [s.metadata() for s in specs]
    if fmt == "json":
        click.echo(json.dumps(rows, indent=2))
        return
    yes = lambda b: "yes" if b else "-"  # noqa: E731
    header = ["proxy", "better", "labels", "real data", "gradients", "inputs", "description"]
    table = [
        [
            r["name"],
            r["direction"],
            yes(r["needs_labels"]),
            yes(r["needs_real_data"]),
            yes(r["uses_gradients"]),
            r["inputs"] if not r["combines"] else "rank of " + "+".join(r["combines"]),
            r["description"],
        ]
        for r in rows
    ]
    if fmt == "markdown":
        click.echo("| " + " | ".join(header) + " |")
        click.echo("|" + "---|" * len(header))
        for row in table:
            click.echo("| " + " | ".join(row) + " |")
        return
    widths = [max(len(str(x)) for x in col) for col in zip(header, *table)]
    for row in [header, *table]:
        click.echo("  ".join(str(x).ljust(w) for x, w in zip(row[:-1], widths)) + "  " + row[-1])
