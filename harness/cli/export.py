"""`harness export` (pending)."""

from harness.cli._pending import pending_command

command = pending_command("export", "Export a results store as one tidy CSV or Parquet table.", "the run-proxies issue")
