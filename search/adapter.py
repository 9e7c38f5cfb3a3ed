"""The per-space part of a search run: `SearchAdapter`.

The run executor (`search.runs`) does everything the same way for every space: resuming, identity,
records, logs. What differs per space is here: its search datasets and their official TE-NAS
settings, how the search images are loaded, the TE-NAS pruning space, and the record fields that
describe what was found (benchmark lookups for NB201; the genotype and its network sizes for
DARTS). A space's adapter is one subclass in the space's module (`search.nb201_adapter`,
`search.darts_adapter`) and one registration in `search.spaces`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from harness.errors import unknown_name

if TYPE_CHECKING:
    from harness.bench import Benchmark
    from harness.data import ImageSet
    from search.algorithms import Found
    from search.tenas import PruningSpace


class SearchAdapter:
    """How searches run on one space. Subclasses set the attributes and the abstract methods."""

    #: the space's name in `harness.spaces.registry.SPACES`
    name: str
    #: how messages name the space
    label: str
    #: the ``schema`` of the space's result records
    schema: str
    #: official TE-NAS settings per search dataset (its keys are the search datasets)
    tenas_defaults: Mapping[str, Mapping]
    #: what `harness search --help` adds after the space's datasets
    dataset_note: str = ""
    #: image source per search dataset when none is asked for (None: the dataset's default order)
    strict_sources: Mapping[str, str] = {}
    #: found cells are looked up in the NB201 benchmark (accuracies, the search leaderboard)
    benchmark: bool = False
    #: what to do with a found cell when the space has no benchmark (ends the refusal messages)
    next_step: str = ""

    @property
    def datasets(self) -> tuple[str, ...]:
        return tuple(self.tenas_defaults)

    def check_dataset(self, dataset: str) -> str:
        """`dataset` if the space searches on it; else an `InputError` naming the accepted ones."""
        if dataset not in self.tenas_defaults:
            raise unknown_name("dataset", dataset, self.datasets)
        return dataset

    def load_images(self, dataset: str, data_dir=None, source: str | None = None) -> ImageSet:
        """The TRAINING images of the search dataset (a missing file is a `DataNotFoundError`
        that says where we looked)."""
        from harness.data import load_images

        dataset = self.check_dataset(dataset)
        return load_images(
            dataset, "train", data_dir, source=source or self.strict_sources.get(dataset)
        )

    def pruning_space(self, dataset: str, images: ImageSet, device) -> PruningSpace:
        """The TE-NAS pruning space (`search.tenas.PruningSpace`) of a search on `dataset`."""
        raise NotImplementedError

    def options(self, dataset: str) -> dict:
        """Options the space adds to a record's ``options`` (beside the algorithm's)."""
        return {}

    def found_fields(self, found: Found, bench: Benchmark | None) -> dict:
        """The record fields (after ``seed``) that describe the cell found and what it cost."""
        raise NotImplementedError

    def found_line(self, fields: dict) -> str:
        """The log line of `found_fields`."""
        raise NotImplementedError

    def summary_line(self, record: dict) -> str:
        """One line per finished seed, for the command's output."""
        raise NotImplementedError

    def seeds_line(self, records: list[dict]) -> str | None:
        """One line over several seeds' records, or None."""
        return None
