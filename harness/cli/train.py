"""`harness train` (pending)."""

from harness.cli._pending import pending_command

command = pending_command("train", "Train or summarise a found DARTS architecture (CIFAR-10 / ImageNet).", "the DARTS/ImageNet issue")
