"""`harness report` (pending)."""

from harness.cli._pending import pending_command

command = pending_command("report", "Write leaderboards, figures and a self-contained HTML report.", "the correlation-report issue")
