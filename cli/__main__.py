"""`python -m cli` is the `harness` command (also under `torchrun -m cli train ...`)."""

from cli import main

main()
