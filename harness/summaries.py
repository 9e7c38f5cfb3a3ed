"""What a command did to a results store, as counters (the sweep's and the importer's summaries).

One base, so that both serialise the same way (`as_dict`: the ``--json`` output and the summary
stored with a sweep's run record) and their commands print them the same way (`report`).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass


@dataclass
class StoreSummary:
    """A dataclass of counters; subclasses say in `text` how a person reads them."""

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)

    def text(self) -> str:
        raise NotImplementedError

    def report(self, as_json: bool = False) -> str:
        """The summary as indented JSON, or as text."""
        return json.dumps(self.as_dict(), indent=2) if as_json else self.text()
