"""Load and check the YAML knowledge directory into a `KnowledgeBase`.

Every problem is collected (never raised) with the file and line it comes from, so an
editor sees all mistakes in one run. This module walks the directory and parses each file;
the readers of category files (`entries`), reserved files (`reserved`, `safety`) and the
checks across entries (`checks`, `safety.check_safety`) do the rest.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path

import yaml
from yaml.nodes import Node

from policybot.knowledge import safety
from policybot.knowledge.checks import check_out_of_scope, check_phrasings, check_related, plain_yaml_error
from policybot.knowledge.entries import CategoryReader, Text
from policybot.knowledge.nodes import FileReader
from policybot.knowledge.problems import ERROR, KnowledgeError, LoadResult, Problem
from policybot.knowledge.reserved import Vocabulary, read_matching, read_smalltalk, read_synonyms
from policybot.model import KnowledgeBase, MatchSettings, Safety, Smalltalk

SYNONYMS = "synonyms"
# libyaml's C parser where PyYAML was built with it (several times faster on big files)
YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
SAFETY = "safety"
SMALLTALK = "smalltalk"
MATCHING = "matching"
RESERVED = (SYNONYMS, SAFETY, SMALLTALK, MATCHING)
SUFFIXES = (".yaml", ".yml")


def load(directory: str | Path, today: dt.date | None = None) -> LoadResult:
    """Read every file of `directory`; `today` decides which entries are past review."""
    return _Loader(Path(directory), today or dt.date.today()).run()


def load_or_raise(directory: str | Path) -> KnowledgeBase:
    """The knowledge base, or KnowledgeError (holding every problem) when it has errors."""
    result = load(directory)
    if result.kb is None:
        raise KnowledgeError(directory, result)
    return result.kb


def check(directory: str | Path, today: dt.date | None = None) -> LoadResult:
    """The same as `load`, for callers that only want the problems."""
    return load(directory, today)


class _Loader:
    def __init__(self, directory: Path, today: dt.date) -> None:
        self.directory = directory
        self.problems: list[Problem] = []
        self.categories = CategoryReader(today)
        self.vocabulary = Vocabulary()
        self.safety = Safety()
        self.safety_file: str | None = None
        self.smalltalk_patterns: list[Text] = []
        self.smalltalk: tuple[Smalltalk, ...] = ()
        self.settings = MatchSettings()
        self.unparsed: list[str] = []  # files with a YAML syntax error

    def directory_error(self, message: str) -> None:
        self.problems.append(Problem(str(self.directory), 0, ERROR, message))

    def run(self) -> LoadResult:
        version = self.read_all()
        cats = self.categories
        self.problems += check_phrasings(
            cats.phrasings, self.vocabulary.filler, self.settings.near_duplicate_similarity
        )
        if not self.unparsed:
            # a file that did not parse may hold the missing ids: its one error says it all
            check_related(cats.related, cats.entry_ids)
        self.problems += check_out_of_scope(cats.phrasings, self.vocabulary.out_of_scope)
        self.problems += check_out_of_scope(cats.phrasings, self.vocabulary.other_services,
                                            unless=self.vocabulary.in_scope, list_name="other_services")
        self.check_safety()
        problems = tuple(sorted(self.problems, key=lambda p: (p.file, p.line)))
        if any(p.severity == ERROR for p in problems):
            return LoadResult(None, problems)
        kb = KnowledgeBase(
            # editors set `order`; the file name breaks ties
            categories=tuple(sorted(cats.categories, key=lambda c: (c.order, c.file))),
            entries=cats.entries,
            synonyms=self.vocabulary.synonyms,
            filler=self.vocabulary.filler,
            out_of_scope=self.vocabulary.out_of_scope,
            in_scope=self.vocabulary.in_scope,
            other_services=self.vocabulary.other_services,
            glossary=self.vocabulary.glossary,
            safety=self.safety,
            smalltalk=self.smalltalk,
            settings=self.settings,
            version=version,
        )
        return LoadResult(kb, problems)

    def check_safety(self) -> None:
        """No safety file, no net: an error. Phrasings the net would catch: a warning each."""
        if self.safety_file is None:
            if any(p.line == 0 and p.file == str(self.directory) for p in self.problems):
                return  # no directory to speak of: that error says it all
            self.directory_error(safety.MISSING)
            return
        self.problems += safety.check_safety(self.safety, self.categories.phrasings, self.smalltalk_patterns)

    def read_synonyms(self, file: FileReader, root: Node) -> None:
        self.vocabulary = read_synonyms(file, root)

    def read_matching(self, file: FileReader, root: Node) -> None:
        self.settings = read_matching(file, root)

    def read_safety(self, file: FileReader, root: Node) -> None:
        self.safety_file = file.path
        self.safety = safety.read_safety(file, root)

    def read_smalltalk(self, file: FileReader, root: Node) -> None:
        self.smalltalk = read_smalltalk(file, root, self.smalltalk_patterns)

    def read_all(self) -> str:
        """Parse every file (reserved ones first: filler and settings feed the checks)."""
        if not self.directory.exists():
            self.directory_error("knowledge directory does not exist")
            return ""
        if not self.directory.is_dir():
            self.directory_error("is not a directory")
            return ""
        try:
            paths = sorted(
                p
                for p in self.directory.iterdir()
                if p.suffix in SUFFIXES and not p.name.startswith(".") and p.is_file()
            )
        except OSError as exc:
            self.directory_error(f"cannot list the directory: {exc.strerror or exc}")
            return ""
        digest = hashlib.sha256()
        reserved: dict[str, tuple[FileReader, Node | None]] = {}
        categories: list[tuple[FileReader, Node | None]] = []
        for path in paths:
            name = str(path)
            data = self.read_bytes(path)
            if data is None:
                continue
            # the name is hashed too, so renaming a file gives a new version
            digest.update(f"{path.name}\0{len(data)}\0".encode())
            digest.update(data)
            file = FileReader(name, self.problems)
            parsed = self.parse(file, data)
            if parsed is False:
                self.unparsed.append(name)
                continue
            root = parsed if isinstance(parsed, Node) else None
            if path.stem in RESERVED:
                if path.stem in reserved:
                    file.error(1, f"'{path.stem}' is given twice (also {reserved[path.stem][0].path})")
                    continue
                reserved[path.stem] = (file, root)
            else:
                categories.append((file, root))
        for stem, read in (
            (SYNONYMS, self.read_synonyms),
            (MATCHING, self.read_matching),
            (SAFETY, self.read_safety),
            (SMALLTALK, self.read_smalltalk),
        ):
            if stem in reserved:
                file, root = reserved[stem]
                if root is None and stem == SAFETY:
                    self.safety_file = file.path
                    file.error(1, safety.EMPTY)
                elif root is None:
                    file.warning(1, "file is empty")
                else:
                    read(file, root)
        if not categories and not self.unparsed:
            self.directory_error(
                f"no category files (*.yaml other than {', '.join(n + '.yaml' for n in RESERVED)})"
            )
        for file, root in categories:
            if root is None:
                file.error(1, "file is empty")
            else:
                self.categories.read_category(file, root)
        return digest.hexdigest()[:12]

    def read_bytes(self, path: Path) -> bytes | None:
        try:
            return path.read_bytes()
        except OSError as exc:
            self.problems.append(Problem(str(path), 1, ERROR, f"cannot read: {exc.strerror or exc}"))
            return None

    def parse(self, file: FileReader, data: bytes) -> Node | bool | None:
        """The root node, None for an empty file, False when unreadable (already reported)."""
        try:
            source = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            file.error(data.count(b"\n", 0, exc.start) + 1, f"not valid UTF-8 text ({exc.reason})")
            return False
        if YAML_LOADER is not yaml.SafeLoader:
            try:
                return yaml.compose(source, Loader=YAML_LOADER)
            except (yaml.YAMLError, RecursionError):
                pass  # a broken file: the Python parser below words its errors as the guide says
        try:
            return yaml.compose(source, Loader=yaml.SafeLoader)
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            line = mark.line + 1 if mark else 1
            message = ": ".join(part for part in (exc.context, exc.problem) if part)
            file.error(line, f"YAML syntax error: line {line}: {plain_yaml_error(message)} (YAML said: {message})")
        except yaml.reader.ReaderError as exc:
            file.error(
                source.count("\n", 0, exc.position) + 1,
                f"YAML syntax error: character {exc.character!r} is not allowed",
            )
        except yaml.YAMLError as exc:
            file.error(1, f"YAML syntax error: {exc}")
        except RecursionError:
            file.error(1, "YAML syntax error: nested too deeply")
        return False
