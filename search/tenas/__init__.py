"""TE-NAS pruning search (docs/tenas-spec.md §4-§9), written once for every space through `PruningSpace`.

The supernet state is a boolean mask ``(cell types, edges, ops)``: True = active (alpha 0), False =
pruned (alpha -1000). Each round measures, for every active op of every edge with more than one
op (loop order cell type -> edge -> op), the relative change of the NTK condition number κ and of
the linear-region count R when that op alone is removed, ranks all candidates by the official
rank sum and removes the `prune_number` lowest of every edge, until one op per edge is left.
`prune_edge_groups` is the DARTS-space edge pruning of §8 (in-degree 2 per node).

Fidelity to the official ``prune_tenas.py`` (VITA-Group/TENAS) is the default, quirks included:
PyTorch default init (the custom init never runs), one NTK origin net per round whose weights are
copied into every candidate net, new thin nets per candidate, a fresh random training batch per
NTK call (shared by origin and candidate), the linear-region crops from one persistent iterator,
per-repeat rounding then averaging, the 3-significant-figure sort key with exact-equality tie
ranks, the prune number capped from edge 0. The authors' later fixes are options
(`TenasConfig.fixed_inputs`, ``init="kaiming"``); hook removal is always on (it cannot change R).

Modules: `config` (settings and quirks), `space` (what a space provides; the mask state), `rules`
(ranking, selection, rounding), `meter` (κ, linear regions, one candidate's measurement), `loop`
(rounds, edge groups, `run_tenas`). The names below are the package's public API.
"""

from search.tenas.config import INITS, KAPPA_DTYPES, TenasConfig, quirk_options
from search.tenas.loop import TenasOutcome, prune_edge_groups, prune_round, run_tenas
from search.tenas.meter import (
    CandidateMeasure,
    PatchStream,
    TenasMeter,
    copy_parameters,
    kaiming_init_,
    official_kappa,
)
from search.tenas.rules import (
    candidates,
    combine_ranks,
    effective_prune_number,
    kappa_change,
    measure_ranks,
    rank_candidates,
    regions_change,
    round_to,
    select_prunes,
)
from search.tenas.space import (
    NONE_INDEX,
    Key,
    PruningSpace,
    SupernetBuilders,
    active_ops,
    initial_masks,
    is_single_path,
)

__all__ = [
    "INITS",
    "KAPPA_DTYPES",
    "NONE_INDEX",
    "CandidateMeasure",
    "Key",
    "PatchStream",
    "PruningSpace",
    "SupernetBuilders",
    "TenasConfig",
    "TenasMeter",
    "TenasOutcome",
    "active_ops",
    "candidates",
    "combine_ranks",
    "copy_parameters",
    "effective_prune_number",
    "initial_masks",
    "is_single_path",
    "kaiming_init_",
    "kappa_change",
    "measure_ranks",
    "official_kappa",
    "prune_edge_groups",
    "prune_round",
    "quirk_options",
    "rank_candidates",
    "regions_change",
    "round_to",
    "run_tenas",
    "select_prunes",
]
