"""Placeholder for subcommands whose issue is not done yet: says so and exits 2, no fake output."""

from __future__ import annotations

import click


def pending_command(name: str, summary: str, issue: str) -> click.Command:
    @click.command(name, context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
                   help=f"{summary}\n\nNot available yet: {issue}.", add_help_option=True)
    @click.pass_context
    def command(ctx):
        click.echo(f"Error: `harness {name}` is not available yet ({issue}).", err=True)
        ctx.exit(2)

    return command
