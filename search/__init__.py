"""Search algorithms over a space using proxies: TE-NAS pruning (the package `search.tenas`),
baselines (`search.baselines`), the algorithm registry (`search.algorithms`), one adapter per
space (`search.adapter`; `search.nb201_adapter`, `search.darts_adapter`, registered in
`search.spaces`), the one run executor and its records (`search.runs`, `search.records`) and the
search leaderboard (`search.leaderboard`). Training of found genotypes is the `training` package.

Kept import-free so that importing one submodule pulls in only what it needs.
"""
