"""The DARTS cell space: genotypes in DARTS's notation, its ops, TE-NAS's search supernets and
DARTS's evaluation networks.

Modules: `genotypes` (op list, edges, the `Genotype` type, parsing, published genotypes; no torch),
`ops` (DARTS's candidate operations), `supernet` (TE-NAS's search supernets, alphas, the parse of
alphas into a genotype) and `network` (evaluation networks, their size and cost). The names below
are the public ones; importing this package imports torch.
"""

from harness.spaces.darts.genotypes import (
    CELL_INPUTS,
    CELL_TYPES,
    DEFAULT_CONCAT,
    EDGE_INDEX,
    EDGE_NAMES,
    EDGES,
    GENOTYPE_OPS,
    GENOTYPES,
    NODE_EDGE_GROUPS,
    OPS,
    STEPS,
    Genotype,
    describe,
    format_genotype,
    genotypes_per_cell,
    load_genotype,
    parse_genotype,
)
from harness.spaces.darts.network import PRESETS as NETWORK_PRESETS
from harness.spaces.darts.network import (
    NetworkCIFAR,
    NetworkImageNet,
    build_network,
    count_macs,
    count_parameters,
    drop_path,
    summarize,
)
from harness.spaces.darts.ops import (
    DARTS_OPS,
    DartsFactorizedReduce,
    DartsReLUConvBN,
    DilConv,
    SepConv,
    preprocess_ops,
)
from harness.spaces.darts.supernet import PRESETS as SUPERNET_PRESETS
from harness.spaces.darts.supernet import (
    ACTIVE_WEIGHT_THRESHOLD,
    NUM_CLASSES,
    PRUNED_ALPHA,
    DartsSearchCell,
    DartsSearchNetwork,
    MixedOp,
    active_mask,
    build_supernet,
    genotype_from_alphas,
    genotype_to_masks,
    mask_to_alphas,
)

__all__ = [
    # the space and its genotypes
    "CELL_INPUTS",
    "CELL_TYPES",
    "DEFAULT_CONCAT",
    "EDGE_INDEX",
    "EDGE_NAMES",
    "EDGES",
    "GENOTYPE_OPS",
    "GENOTYPES",
    "NODE_EDGE_GROUPS",
    "OPS",
    "STEPS",
    "Genotype",
    "describe",
    "format_genotype",
    "genotypes_per_cell",
    "load_genotype",
    "parse_genotype",
    # ops
    "DARTS_OPS",
    "DartsFactorizedReduce",
    "DartsReLUConvBN",
    "DilConv",
    "SepConv",
    "preprocess_ops",
    # search supernets
    "ACTIVE_WEIGHT_THRESHOLD",
    "NUM_CLASSES",
    "PRUNED_ALPHA",
    "SUPERNET_PRESETS",
    "DartsSearchCell",
    "DartsSearchNetwork",
    "MixedOp",
    "active_mask",
    "build_supernet",
    "genotype_from_alphas",
    "genotype_to_masks",
    "mask_to_alphas",
    # evaluation networks
    "NETWORK_PRESETS",
    "NetworkCIFAR",
    "NetworkImageNet",
    "build_network",
    "count_macs",
    "count_parameters",
    "drop_path",
    "summarize",
]
