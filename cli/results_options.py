"""The options `correlate` and `report` share, gathered into one `ResultsOptions` (not passed
around one by one): the results files, the benchmark, which metric keys and cells, the bootstrap,
the NaN/inf policy, combined scores and ensembles, plugins and whether incomplete exports may be
read."""

from __future__ import annotations

import dataclasses
import functools

import click

from cli.plugin_option import plugin_option

# Same as reports.io.DATASET_CHOICES (a test checks); kept here so `harness --help` stays light.
DATASET_CHOICES = ("cifar10", "cifar100", "ImageNet16-120", "all")


@dataclasses.dataclass(frozen=True)
class ResultsOptions:
    results: tuple[str, ...]
    dataset: str | None
    metrics: tuple[str, ...]
    bench: str | None
    data_dir: str | None
    indices: str | None
    unique: bool
    bootstrap: int
    seed: int
    undefined: str
    combine: str | None
    ensemble: tuple[str, ...]
    ensembles: str | None
    accept_partial: bool

    def combos(self) -> list:
        """What to add beside the proxies: --combine's proxy-name tuples (ad-hoc rank sums),
        every ensemble of --ensembles FILE, then each --ensemble NAME (`harness.ensembles`).
        Raises InputError on an unknown name or a bad file, before any work."""
        from harness.ensembles import get_ensemble, load_ensembles
        from reports.combine import parse_combine

        extra = load_ensembles(self.ensembles) if self.ensembles else {}
        chosen = list(extra.values())
        for name in self.ensemble:
            ens = get_ensemble(name, extra)
            if ens not in chosen:
                chosen.append(ens)
        return [*parse_combine(self.combine), *chosen]

    def selection(self) -> dict | None:
        """The selection record behind a selected ensemble asked for (--ensemble selected, or
        --ensembles with a selection.json), for its held-out figures; None when none is."""
        import json
        from pathlib import Path

        from harness.ensembles import SELECTED_NAME, SELECTION_FILE

        if self.ensembles and self.ensembles.endswith(".json"):
            return json.loads(Path(self.ensembles).read_text(encoding="utf-8"))
        if SELECTED_NAME in self.ensemble and SELECTION_FILE.is_file():
            return json.loads(SELECTION_FILE.read_text(encoding="utf-8"))
        return None

    def load(self):
        """``(frame, configs, benchmark, paths)``: the results (only the --indices cells when given)
        and the benchmark. Raises InputError on bad input, an incomplete export too unless
        --accept-partial."""
        from harness.bench import load_benchmark
        from harness.errors import InputError
        from harness.selection import parse_indices
        from reports.io import load_results

        if not self.results:
            raise InputError(
                "no results given; pass --results FILE (.csv, .csv.gz, .parquet or .sqlite)."
            )
        keep = parse_indices(self.indices) if self.indices is not None else None  # "" is an error
        frame, configs = load_results(self.results, accept_partial=self.accept_partial)
        if keep is not None:
            frame = frame[frame["index"].isin(keep)].reset_index(drop=True)
            if frame.empty:
                raise InputError(f"--indices {self.indices!r} keeps none of the result rows.")
        benchmark = load_benchmark(source=self.bench, data_dir=self.data_dir)
        return frame, configs, benchmark, list(self.results)


def ensembles_file_option(dest: str, use: str):
    """``--ensembles FILE``: a user's TOML ensembles or a selection record; `use` says what the
    command does with them."""
    from harness.ranking import AGGREGATIONS

    return click.option(
        "--ensembles",
        dest,
        type=click.Path(dir_okay=False),
        default=None,
        metavar="FILE",
        help="TOML file of user ensembles ([ensembles.NAME] with members = [...], aggregation = "
        f"{' | '.join(repr(a) for a in AGGREGATIONS.names())}; see docs/ensembles.md), or a "
        f"selection.json record; {use}.",
    )


_OPTIONS = [
    click.option(
        "--results",
        "results",
        multiple=True,
        metavar="FILE",
        help="Results file: a `harness export` table (.csv, .csv.gz, .parquet; its "
        ".configs.json sidecar is read when present) or a .sqlite store. Repeat the "
        "option or list more FILEs after it; all are merged.",
    ),
    click.option(
        "--dataset",
        type=click.Choice(DATASET_CHOICES),
        default=None,
        help="Benchmark dataset(s) to correlate with. correlate uses each one's default key "
        "(cifar10: cifar10-valid/x-valid@200, cifar100 / ImageNet16-120: x-test@200; default "
        "cifar10); report uses its keys of that dataset (default: all four).",
    ),
    click.option(
        "--metric",
        "metrics",
        multiple=True,
        metavar="KEY",
        help="Benchmark metric key in NB201's words, e.g. cifar10/ori-test@200 "
        "(repeatable); overrides --dataset.",
    ),
    click.option(
        "--bench",
        type=click.Path(),
        default=None,
        help="Benchmark source: nb201_accuracy.csv[.gz], an official NB201 .pth or a "
        "NATS-Bench TSS folder. Default: nb201/nb201_accuracy.csv[.gz] of the data folder.",
    ),
    click.option(
        "--data-dir",
        type=click.Path(),
        default=None,
        help="Data folder for the default benchmark (default: $HARNESS_DATA_DIR, else the "
        "user cache, then the table embedded in the package).",
    ),
    click.option(
        "--indices",
        default=None,
        metavar="SPEC",
        help="Only these NB201 cells, e.g. 0-3999 (ranges, indices, arch strings). The "
        "official index order is a random shuffle, so a prefix is a uniform sample, and a "
        "partial --unique sweep covers its prefix exactly (it scores classes in index order).",
    ),
    click.option(
        "--unique",
        is_flag=True,
        help="Keep one cell per NB201 isomorphism class (the lowest index present).",
    ),
    click.option(
        "--bootstrap",
        type=click.IntRange(min=0),
        default=1000,
        show_default=True,
        help="Bootstrap resamples (of cells) for the 95% intervals; 0 skips them.",
    ),
    click.option("--seed", type=int, default=0, show_default=True, help="Seed of the bootstrap."),
    click.option(
        "--undefined",
        type=click.Choice(["worst", "exclude"]),
        default="worst",
        show_default=True,
        help="NaN/inf scores (e.g. kappa of a disconnected cell, a 0/0 kernel): 'worst' "
        "ranks them at the worst end as TE-NAS does (its code maps NaN to 1e5; +inf/-inf keep "
        "their ends); 'exclude' leaves them out. Failed (error) cells are always excluded.",
    ),
    click.option(
        "--combine",
        default=None,
        metavar="A,B[,C]",
        help="Also score the rank sum of these proxies (each ranked by its own "
        "direction); separate several sums with ';'. The TE-NAS sum "
        "ntk_cond+linear_regions is added as 'tenas', and AZ-NAS's log-rank sum of its four "
        "components as 'az_nas', whenever their components are present.",
    ),
    click.option(
        "--ensemble",
        "ensemble",
        multiple=True,
        metavar="NAME",
        help="Also score this ensemble (repeatable): a built-in (tenas, az_nas, all: every "
        "proxy of the results by mean rank), 'selected' (the one `harness ensemble select` "
        "committed) or one defined in --ensembles. tenas and az_nas are added anyway wherever "
        "their members are present.",
    ),
    ensembles_file_option("ensembles", "all of them are scored"),
    plugin_option(),
    click.argument("more_results", nargs=-1, type=click.Path(), metavar="[FILE]..."),
]


#: correlate's and report's --accept-partial (an export's sidecar is its completeness record).
_ACCEPT_PARTIAL = click.option(
    "--accept-partial",
    is_flag=True,
    help="Read exported tables whose sidecar (.configs.json, written last, with the table's row count "
    "and SHA-256) is missing or does not match: incomplete exports are refused without it.",
)


def results_options(func):
    """Decorator: add the shared options and hand the command one `ResultsOptions` as ``opts``."""
    names = {f.name for f in dataclasses.fields(ResultsOptions)}

    @functools.wraps(func)
    def command(*args, more_results=(), **kwargs):
        given = {k: kwargs.pop(k) for k in list(kwargs) if k in names}
        given["results"] = (*given["results"], *more_results)
        return func(*args, opts=ResultsOptions(**given), **kwargs)

    for option in reversed([*_OPTIONS, _ACCEPT_PARTIAL]):
        command = option(command)
    return command
