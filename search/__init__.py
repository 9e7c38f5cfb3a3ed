"""Search algorithms over a space using proxies: TE-NAS pruning (`search.tenas` with a space adapter
such as `search.nb201_adapter`), baselines (`search.baselines`), run records (`search.records`,
`search.runs`) and the search leaderboard (`search.leaderboard`). Training of found genotypes is
the `training` package.

Kept import-free so that importing one submodule pulls in only what it needs.
"""
