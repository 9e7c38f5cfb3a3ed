"""`harness export`: the results store as one tidy table (CSV or Parquet) plus its configurations."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from harness.errors import InputError


@click.command("export")
@click.option("--results", "stores", multiple=True, required=True, help="Results store(s) (repeatable).")
@click.option("--format", "fmt", type=click.Choice(["csv", "parquet"]), default="csv", show_default=True)
@click.option("--out", default=None, help="Output file (.csv, .csv.gz or .parquet); CSV goes to stdout if omitted.")
@click.option("--per-repeat", is_flag=True, help="One row per repeat instead of repeats aggregated.")
def command(stores, fmt, out, per_repeat):
    """Export results as one tidy table: one row per cell and proxy (and config)."""
    import pandas as pd

    from harness.store import configs_sidecar, read_configs, read_results

    frame = pd.concat([read_results(s, per_repeat=per_repeat) for s in stores], ignore_index=True)
    configs = {}
    for s in stores:
        configs.update(read_configs(s))
    if out is None:
        if fmt != "csv":
            raise InputError("--format parquet needs --out FILE.")
        frame.to_csv(sys.stdout, index=False)
        return
    path = Path(out)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if fmt == "parquet":
            frame.to_parquet(path, index=False)
        else:
            frame.to_csv(path, index=False, float_format="%.10g")
        configs_sidecar(path).write_text(json.dumps(configs, indent=2, sort_keys=True) + "\n")
    except OSError as err:
        raise InputError(f"cannot write {out!r}: {err}.") from None
    except ImportError as err:
        raise InputError(f"--format parquet needs pyarrow: {err}.") from None
    click.echo(f"wrote {len(frame)} rows to {path} and configurations to {configs_sidecar(path)}", err=True)
