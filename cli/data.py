"""`harness data`: what the data roots hold (`status`) and fetching the CIFAR archives (`download`)."""

from __future__ import annotations

import json

import click


@click.group("data")
def command() -> None:
    """Show and fetch the datasets and benchmark files the harness reads.

    Data come from --data-dir, else $HARNESS_DATA_DIR, else the user cache ($HARNESS_CACHE, else
    $XDG_CACHE_HOME/harness, else ~/.cache/harness), else the sample embedded in the package
    (the NB201 table and the first 4,000 CIFAR-10 training images).
    """


@command.command("status")
@click.option(
    "--data-dir",
    type=click.Path(),
    default=None,
    help="Data folder to inspect instead of the defaults.",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def status(data_dir, as_json):
    """Show, per dataset and benchmark source, whether it is available, from where, and what is missing."""
    from harness.inventory import inventory

    searched, idle, holdings = inventory(data_dir)
    if as_json:
        out = {
            "searched": [{"origin": r.origin, "path": str(r.path)} for r in searched],
            "not_searched": [{"origin": r.origin, "path": str(r.path)} for r in idle],
            "entries": [h.as_dict() for h in holdings],
        }
        click.echo(json.dumps(out, indent=2))
        return
    click.echo("searched, in order: " + "; ".join(f"{r.origin} {r.path}" for r in searched))
    if idle:
        click.echo("present, not searched: " + "; ".join(f"{r.origin} {r.path}" for r in idle))
    rows = [("name", "ok", "from", "holds")]
    rows += [
        (h.name, "yes" if h.available else "no", h.where or "-", h.forms or "-") for h in holdings
    ]
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    for row in rows:
        click.echo("  ".join([*(c.ljust(w) for c, w in zip(row, widths)), row[3]]))
    gaps = [h for h in holdings if h.missing]
    if gaps:
        click.echo("missing:")
        for h in gaps:
            click.echo(f"  {h.name}: {h.missing}")


@command.command("download")
@click.argument("name")
@click.option(
    "--url", default=None, help="A mirror of the official archive (its MD5 is still checked)."
)
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
def download(name, url, quiet):
    """Download, verify and extract cifar10 or cifar100 into the user cache.

    NAME is cifar10 or cifar100; for ImageNet16-120, imagenet, nb201-pth and nats-tss (no stable
    direct URL) it prints where to get them and where to put them, and exits with 2. An interrupted
    download resumes when the same command is run again.
    """
    from harness.downloads import download as fetch

    folder = fetch(
        name,
        url=url,
        progress=False if quiet else None,
        echo=lambda line: click.echo(line, err=True),
    )
    click.echo(str(folder))
