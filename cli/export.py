"""`harness export`: the results store as one tidy table (CSV or Parquet) plus its sidecar."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from harness.errors import InputError


@click.command("export")
@click.option(
    "--results", "stores", multiple=True, required=True, help="Results store(s) (repeatable)."
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["csv", "parquet"]),
    default=None,
    help="Table format.  [default: from the --out name; csv on stdout]",
)
@click.option(
    "--out",
    default=None,
    help="Output file (.csv, .csv.gz or .parquet); CSV goes to stdout if omitted.",
)
@click.option(
    "--per-repeat", is_flag=True, help="One row per repeat instead of repeats aggregated."
)
def command(stores, fmt, out, per_repeat):
    """Export results as one tidy table: one row per cell and proxy (and config).

    With --out, the table is written whole or not at all (temporary file, then rename) and then its
    sidecar <name>.configs.json: the configurations plus the table's row count and SHA-256, which
    readers check (a table without a matching sidecar is incomplete). Floats keep full precision
    and +-inf; NaN is an empty field.
    """
    import pandas as pd

    from harness.atomic import check_writable_dir
    from harness.exports import configs_sidecar, table_format, write_export
    from harness.store import read_configs, read_results

    if out is None:
        if fmt == "parquet":
            raise InputError("--format parquet needs --out FILE.")
    else:
        named = table_format(out)
        if fmt is not None and (fmt == "parquet") != (named == "parquet"):
            raise InputError(
                f"--format {fmt} does not match --out {out!r}; name the file .parquet for Parquet, "
                f".csv or .csv.gz for CSV."
            )
        check_writable_dir(Path(out).parent, "the export")
    frame = pd.concat([read_results(s, per_repeat=per_repeat) for s in stores], ignore_index=True)
    configs = {}
    for s in stores:
        configs.update(read_configs(s))
    if out is None:
        frame.to_csv(sys.stdout, index=False, lineterminator="\n")
        return
    path = Path(out)
    try:
        write_export(frame, path, configs)
    except OSError as err:
        raise InputError(f"cannot write {out!r}: {err.strerror or err}.") from None
    click.echo(
        f"wrote {len(frame)} rows to {path} and configurations to {configs_sidecar(path)}", err=True
    )
