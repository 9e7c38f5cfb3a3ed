"""Error types that the CLI maps to exit codes (2 = bad input, 1 = runtime failure)."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class HarnessError(Exception):
    """Base class of every error the harness raises on purpose."""

    exit_code = 1


class InputError(HarnessError, ValueError):
    """Bad input from the user: unknown name, malformed string, missing file (exit code 2)."""

    exit_code = 2


class DataNotFoundError(InputError, FileNotFoundError):
    """A dataset or benchmark file is missing; the message says where we looked."""


def unknown_name(kind: str, name: str, known: Iterable[str]) -> InputError:
    """Build the standard 'unknown X' error with a suggestion and the accepted names."""
    known = sorted(known)
    close = difflib.get_close_matches(name, known, n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    return InputError(f"unknown {kind} {name!r}.{hint} Available: {', '.join(known)}.")
