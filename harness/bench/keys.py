"""NB201's metric keys (``<dataset>/<split>@<epochs>``), the reports' default metric per dataset,
the shared table's column per key, and the names of the benchmark files."""

from __future__ import annotations

from harness.errors import unknown_name

# The splits NB201 evaluates for each training set (ArchResults.get_metrics' docstring):
# cifar10-valid trains on 25k and validates on the other 25k; cifar10 trains on all 50k;
# for cifar100 / ImageNet16-120 `ori-test` is the union of `x-valid` and `x-test`.
SPLITS: dict[str, tuple[str, ...]] = {
    "cifar10-valid": ("x-valid", "ori-test", "train"),
    "cifar10": ("ori-test", "train"),
    "cifar100": ("x-valid", "x-test", "ori-test", "train"),
    "ImageNet16-120": ("x-valid", "x-test", "ori-test", "train"),
}
DATASETS: tuple[str, ...] = tuple(SPLITS)
EPOCHS: tuple[int, ...] = (200, 12)  # NB201's `hp`: the 200-epoch and the 12-epoch schedule

ALL_KEYS: tuple[str, ...] = tuple(
    f"{ds}/{split}@{ep}" for ep in EPOCHS for ds, splits in SPLITS.items() for split in splits
)

# design.md: CIFAR-10 ranks by the cifar10-valid validation mean; CIFAR-100 / ImageNet16-120
# use x-test because their full-coverage valid means are not in the shared table.
DEFAULT_METRIC: dict[str, str] = {
    "cifar10": "cifar10-valid/x-valid@200",
    "cifar100": "cifar100/x-test@200",
    "ImageNet16-120": "ImageNet16-120/x-test@200",
}

# Metric key -> column of the shared table (see the data README). One column per key.
TABLE_COLUMNS: dict[str, str] = {
    "cifar10-valid/x-valid@200": "cifar10_valid_acc",
    "cifar10-valid/ori-test@200": "cifar10valid_test_acc",
    "cifar10-valid/train@200": "cifar10valid_train_acc",
    "cifar10/ori-test@200": "cifar10_test_acc",
    "cifar100/x-valid@200": "cifar100_valid_acc",
    "cifar100/x-test@200": "cifar100_test_acc",
    "ImageNet16-120/x-valid@200": "imagenet16_valid_acc",
    "ImageNet16-120/x-test@200": "imagenet16_test_acc",
    "cifar10-valid/x-valid@12": "cifar10_valid_acc_12ep",
    "cifar10/ori-test@12": "cifar10_test_acc_12ep",
    "cifar100/x-valid@12": "cifar100_valid_acc_12ep",
    "cifar100/x-test@12": "cifar100_test_acc_12ep",
    "ImageNet16-120/x-valid@12": "imagenet16_valid_acc_12ep",
    "ImageNet16-120/x-test@12": "imagenet16_test_acc_12ep",
}
if len(set(TABLE_COLUMNS.values())) != len(TABLE_COLUMNS):  # two keys never share a field
    raise RuntimeError("harness.bench.TABLE_COLUMNS maps two metric keys to one column")

# The benchmark files: the shared table, the official NB201 .pth files, NATS-Bench TSS folders.
TABLE_FILE = "nb201_accuracy.csv"
TABLE_NAMES = (TABLE_FILE, f"{TABLE_FILE}.gz")  # the embedded copy is gzip-compressed
NB201_FILES = ("NAS-Bench-201-v1_0-e61699.pth", "NAS-Bench-201-v1_1-096897.pth")
NATS_TSS_DIRS = ("NATS-tss-v1_0-3ffb9-simple", "NATS-tss-v1_0-3ffb9-full")
PBZ2 = ".pickle.pbz2"  # nats_bench.api_utils.PICKLE_EXT


def metric_keys() -> list[str]:
    """Every metric key the harness knows, in NB201's words (a source may hold fewer)."""
    return list(ALL_KEYS)


def parse_key(key: str) -> tuple[str, str, int]:
    """Split ``'cifar100/x-test@200'`` into ``('cifar100', 'x-test', 200)``; unknown keys raise."""
    if key not in ALL_KEYS:
        raise unknown_name("benchmark metric", str(key), ALL_KEYS)
    dataset, _, rest = key.partition("/")
    split, _, epochs = rest.partition("@")
    return dataset, split, int(epochs)


def default_metric(dataset: str) -> str:
    """The metric reports use for the proxy dataset `dataset` (design.md conventions)."""
    try:
        return DEFAULT_METRIC[dataset]
    except KeyError:
        raise unknown_name("dataset", dataset, DEFAULT_METRIC) from None
