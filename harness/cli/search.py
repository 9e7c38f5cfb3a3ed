"""`harness search` (pending)."""

from harness.cli._pending import pending_command

command = pending_command("search", "Run a search (TE-NAS pruning, random, best-of-N, evolution) on a space.", "the TE-NAS search issue")
