"""Sweeps: score many cells of a space with proxies into the results store.

Profiles (`sweep.profiles`), the per-cell scorer (`sweep.scoring`), the runner with its local
processes (`sweep.runner`) and the Ray backend (`sweep.ray_backend`). Import-free, so importing
one submodule pulls in only what it needs.
"""
