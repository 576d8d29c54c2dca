"""`curator data import SOURCE`: a source file or folder (or a bundled dataset) read into a dataset folder."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from curator.data.import_config import ImportConfig
from curator.data.importers import reader_options, resolve_source, source_files, write_imported
from curator.run.stage import Stage, StageRun


@dataclass
class ImportStage(Stage):
    name = "import"

    source: str  # a path, or a bundled dataset's name (curator.data.importers.SHORTCUTS)
    config: ImportConfig
    out: Path

    def validate(self) -> None:
        self.config.validate()
        path, format = resolve_source(self.source, self.config.format)
        reader_options(self.config, format)

    def inputs(self) -> dict[str, Path]:
        path, _ = resolve_source(self.source, self.config.format)
        files = {file.name: file for file in source_files(path)}
        items_file = self.config.options.get("items_file")
        return {**files, **({"items_file": Path(items_file)} if items_file else {})}

    def options(self) -> dict[str, Any]:
        return {
            "format": resolve_source(self.source, self.config.format)[1],
            "name": self.config.name,
            "options": self.config.recorded(),
        }

    def produce(self, run: StageRun) -> dict[str, Any]:
        path, format = resolve_source(self.source, self.config.format)
        return write_imported(run.folder, path, format, self.config, run.command).summary()
