"""`harness correlate` (pending)."""

from harness.cli._pending import pending_command

command = pending_command("correlate", "Correlate proxy scores with benchmark accuracies (Kendall tau, Spearman rho, top-k).", "the correlation-report issue")
