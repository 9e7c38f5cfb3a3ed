"""A researcher's own proxies, without editing the package: plugin files or modules (``--plugin``)
and installed packages that declare the ``harness.proxies`` entry-point group.

A plugin registers its proxies with the same `register_proxy` decorator as the built-in ones;
importing it is all it takes. Each plugin is imported once per process, and sweep workers import
the same plugins again (they are named in the sweep's spec), so a plugin must be importable there.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.metadata
import importlib.util
import sys
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

from harness.errors import InputError
from harness.registry import DuplicateNameError
from proxies.registry import PROXIES

ENTRY_POINT_GROUP = "harness.proxies"


@dataclass(frozen=True)
class Plugin:
    """What one plugin added, as a run records it."""

    name: str  # the file name or module as given, or ``entry point NAME``
    target: str  # what workers import again: the absolute file path, or the module name
    sha256: str | None  # of the file, for plugin files
    proxies: tuple[str, ...]

    def as_dict(self) -> dict:
        return {k: v for k, v in asdict(self).items() if k != "target"}


_LOADED: dict[str, Plugin] = {}  # target -> plugin, so a second load is a no-op


def load_plugins(specs: Iterable[str] = (), *, entry_points: bool = True) -> list[Plugin]:
    """Import the plugins `specs` (``path/to/file.py`` or ``package.module``), then those of the
    ``harness.proxies`` entry-point group; return them in that order.

    Raises:
        InputError: a plugin file is missing, a plugin fails to import, or it registers a proxy
            name that is taken; the message names the plugin and the problem.
    """
    plugins = [_load_spec(spec) for spec in specs]
    if entry_points:
        for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
            plugins.append(
                _load(
                    f"entry point {ep.name} ({ep.value})", ep.value, None, lambda ep=ep: ep.load()
                )
            )
    return plugins


def _load_spec(spec: str) -> Plugin:
    spec = str(spec)
    if spec.endswith(".py") or "/" in spec or "\\" in spec:
        path = Path(spec).expanduser()
        if not path.is_file():
            raise InputError(
                f"plugin {spec!r}: no such file; give a .py file or an importable module."
            )
        path = path.resolve()
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        return _load(path.name, str(path), digest, lambda: _import_file(path, digest))
    return _load(spec, spec, None, lambda: importlib.import_module(spec))


def _import_file(path: Path, digest: str):
    name = f"harness_plugin_{path.stem}_{digest[:8]}"
    module_spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(module_spec)
    sys.modules[name] = module
    try:
        module_spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module


def _load(name: str, target: str, digest: str | None, do_import: Callable[[], object]) -> Plugin:
    if target in _LOADED:
        return _LOADED[target]
    before = set(PROXIES.names())
    try:
        do_import()
    except DuplicateNameError as err:
        raise InputError(
            f"plugin {name!r}: {err}; a built-in proxy or another plugin has that name, "
            f"rename yours."
        ) from None
    except ModuleNotFoundError as err:
        raise InputError(f"plugin {name!r} cannot be imported: {err}.") from None
    except Exception as err:  # any error of the plugin's own code, reported as one line
        raise InputError(f"plugin {name!r} failed to import: {type(err).__name__}: {err}") from None
    added = tuple(sorted(set(PROXIES.names()) - before))
    _LOADED[target] = plugin = Plugin(name, target, digest, added)
    return plugin
