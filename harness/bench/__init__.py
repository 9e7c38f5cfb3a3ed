"""NB201 accuracy lookup: the harness's only reader of benchmark accuracies.

Three sources give one `Benchmark`: the shared table (`nb201_accuracy.csv`), the official
NAS-Bench-201 `.pth` (through `nas_201_api`) and NATS-Bench TSS (through `nats_bench`).
Metrics are named in NB201's own words, ``<dataset>/<split>@<epochs>``. Torch is imported only
inside the `.pth` reader, so reports can import this package on a machine without torch.

Modules: `keys` (metric keys, default metrics, table columns, file names), `cells` (the NB201
cell order every source follows), `benchmark` (`Benchmark`, `load_benchmark`, the table reader),
`official` (the ``.pth`` and NATS-Bench TSS readers, the Parquet cache).
"""

from harness.bench.benchmark import Benchmark, BenchmarkSource, load_benchmark
from harness.bench.keys import (
    DATASETS,
    DEFAULT_METRIC,
    EPOCHS,
    NATS_TSS_DIRS,
    NB201_FILES,
    SPLITS,
    TABLE_COLUMNS,
    TABLE_FILE,
    TABLE_NAMES,
    default_metric,
    metric_keys,
    parse_key,
)

__all__ = [
    "DATASETS",
    "DEFAULT_METRIC",
    "EPOCHS",
    "NATS_TSS_DIRS",
    "NB201_FILES",
    "SPLITS",
    "TABLE_COLUMNS",
    "TABLE_FILE",
    "TABLE_NAMES",
    "Benchmark",
    "BenchmarkSource",
    "default_metric",
    "load_benchmark",
    "metric_keys",
    "parse_key",
]
