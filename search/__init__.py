"""Search algorithms over a space using proxies: TE-NAS pruning (`search.tenas` with a space adapter
such as `search.nb201_adapter`), baselines (`search.baselines`), run records (`search.records`,
`search.runs`) and the search leaderboard (`search.leaderboard`); DARTS evaluation training in
`search.train`.

Kept import-free so that importing one submodule pulls in only what it needs.
"""
