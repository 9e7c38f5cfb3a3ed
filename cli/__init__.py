"""The `harness` command line: a thin click group; each subcommand lives in its own module.

Exit codes: 0 success, 2 bad input (unknown name, malformed value, missing file), 1 runtime failure.
"""

from __future__ import annotations

import logging
import sys

import click

from harness import __version__
from harness.errors import HarnessError


class HarnessGroup(click.Group):
    """Maps `HarnessError`s raised anywhere below to one-line messages and exit codes."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except HarnessError as err:
            click.echo(f"Error: {err}", err=True)
            ctx.exit(err.exit_code)


@click.group(cls=HarnessGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="harness")
@click.option("-v", "--verbose", count=True, help="More log output (-v info, -vv debug).")
def cli(verbose: int) -> None:
    """Score, correlate and search NAS-Bench-201 / DARTS cells with TE-NAS and zero-cost proxies."""
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(
        level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )


def _register() -> None:
    # Explicit list: one module per subcommand, each owning its options.
    from cli import (
        correlate,
        data,
        ensemble,
        export,
        import_results,
        proxies,
        report,
        run_proxies,
        search,
        spaces,
        train,
    )

    for module in (
        spaces,
        proxies,
        data,
        run_proxies,
        correlate,
        report,
        ensemble,
        search,
        train,
        export,
        import_results,
    ):
        cli.add_command(module.command)


_register()


def main() -> None:
    cli(prog_name="harness")
