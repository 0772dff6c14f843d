"""What loading a knowledge directory gives back: the problems found, and the knowledge base
when there are no errors."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from policybot.model import KnowledgeBase

ERROR = "error"
WARNING = "warning"


@dataclass(frozen=True)
class Problem:
    file: str
    line: int  # 1-based; 0 when the problem concerns the directory, not a line
    severity: str  # ERROR | WARNING
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line > 0 else self.file
        return f"{where}: {self.severity}: {self.message}"


@dataclass(frozen=True)
class LoadResult:
    kb: KnowledgeBase | None  # None when there is any error
    problems: tuple[Problem, ...]  # sorted by file, line

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == ERROR]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == WARNING]

    @property
    def ok(self) -> bool:
        return self.kb is not None


class KnowledgeError(Exception):
    """The knowledge base has errors: nothing can be answered from it."""

    def __init__(self, directory: str | Path, result: LoadResult) -> None:
        self.directory = str(directory)
        self.result = result
        super().__init__(
            f"the knowledge base in {self.directory} has {len(result.errors)} error(s); fix them"
            f" (python -m policybot check {self.directory} lists every problem)"
        )

    @property
    def errors(self) -> list[Problem]:
        return self.result.errors

    def print(self, stream: TextIO | None = None, prefix: str = "") -> None:
        """Each error as file:line: message, then what to do."""
        stream = stream or sys.stderr
        for problem in self.errors:
            print(problem, file=stream)
        print(f"{prefix}{self}", file=stream)
