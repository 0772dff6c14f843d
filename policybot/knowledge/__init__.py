"""The knowledge directory (YAML written by editors) read into a validated `KnowledgeBase`.

`load(directory)` returns a `LoadResult`: every problem with its file and line, and the
knowledge base when there is no error. Modules: `loader` (the directory walk), `nodes` (typed
YAML-node readers), `entries` (category files), `reserved` (synonyms, smalltalk, matching),
`safety` (safety.yaml and the check that no phrasing fires it), `checks` (across entries),
`problems` (the result values).
"""

from policybot.knowledge.loader import check, load, load_or_raise
from policybot.knowledge.problems import ERROR, WARNING, KnowledgeError, LoadResult, Problem

__all__ = ["ERROR", "WARNING", "KnowledgeError", "LoadResult", "Problem", "check", "load", "load_or_raise"]
