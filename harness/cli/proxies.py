"""`harness proxies` (pending)."""

from harness.cli._pending import pending_command

command = pending_command("proxies", "List the registered proxies with their direction and needs.", "the proxy-registry issue")
