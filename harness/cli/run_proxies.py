"""`harness run-proxies` (pending)."""

from harness.cli._pending import pending_command

command = pending_command("run-proxies", "Score NB201 cells with registered proxies into a resumable results store.", "the run-proxies issue")
