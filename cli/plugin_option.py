"""The ``--plugin`` option: a researcher's own proxies, loaded before the command validates names."""

from __future__ import annotations

import click

HELP = (
    "A proxy plugin: a .py file or an importable module that registers proxies with "
    "proxies.register_proxy (repeatable). Installed packages' `harness.proxies` entry points "
    "are loaded too."
)


def _load(ctx: click.Context, param: click.Parameter, value: tuple[str, ...]):
    from proxies.plugins import load_plugins

    return tuple(load_plugins(value))


def plugin_option(expose: bool = False):
    """Decorator adding ``--plugin``; with `expose` the command gets the loaded `Plugin`s as
    ``plugins`` (the sweep hands them to its workers)."""
    return click.option(
        "--plugin",
        "plugins",
        multiple=True,
        metavar="FILE.py|MODULE",
        callback=_load,
        expose_value=expose,
        help=HELP,
    )
