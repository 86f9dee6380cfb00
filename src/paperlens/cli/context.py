"""Shared CLI state: the settings the global options chose, and the opened core."""

from __future__ import annotations

from dataclasses import dataclass, field

import typer

from paperlens.config import Settings
from paperlens.core import PaperLens


@dataclass
class CliState:
    settings: Settings
    _lens: PaperLens | None = field(default=None, repr=False)

    @property
    def lens(self) -> PaperLens:
        if self._lens is None:
            self._lens = PaperLens(self.settings)
        return self._lens


def state(ctx: typer.Context) -> CliState:
    obj = ctx.find_root().obj
    assert isinstance(obj, CliState)
    return obj
