"""A stack's config as far as it reads: one pass reports every problem that does not depend on another.

Field errors (a `4GB` memory) are found together by the models. The rules that judge the config as a whole (the
cross-checks, an environment's rules such as prod's minimum replicas, the promotion against the referenced stack)
then judge the rest of it: each refused value gives way to its field's default, and a problem those rules find at
or below a refused value is not reported (it would judge the default, not what was written). When a refused value
has no default to give way to (a required key, a list item, a name, a whole mapping), the rest is not judged: the
field errors are reported alone, as the rules would judge a config that is not the one written.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import Any

from mlplatform.config import schema
from mlplatform.config.base import ConfigError, Problem, parse_path
from mlplatform.config.stack import StackConfig


@dataclass(frozen=True)
class Reading:
    """The problems found so far, and the config they leave: `settings` has the refused values' defaults in their
    place (None when the rest cannot be read); `refused` holds the config paths of those values; `where` gives a
    problem its place in the stack file (`ConfigSource.where`), when the file is known."""

    settings: StackConfig | None
    problems: tuple[Problem, ...] = ()
    refused: tuple[tuple, ...] = ()
    where: Callable[[str], str] | None = None

    def adding(self, problems: Iterable[Problem]) -> Reading:
        """With the problems of a later rule that do not judge a refused value's default."""
        kept = tuple(problem for problem in problems if not self._judges_refused(problem))
        return replace(self, problems=self.problems + kept) if kept else self

    def _judges_refused(self, problem: Problem) -> bool:
        path = parse_path(problem.key)
        return any(path[: len(refused)] == refused or refused[: len(path)] == path for refused in self.refused)

    def located(self, where: Callable[[str], str] | None) -> Reading:
        """Whose problems, those found so far and those added later, are placed by `where`."""
        return replace(self, where=where)

    def error(self) -> ConfigError:
        """Every problem, in file order when the file is known."""
        error = ConfigError.of(list(self.problems))
        return error.locate(self.where) if self.where else error

    def usable(self) -> StackConfig:
        """The config the later rules judge; a ConfigError with the problems when nothing can be judged."""
        if self.settings is None:
            raise self.error()
        return self.settings

    def settled(self) -> StackConfig:
        """The config, when no problem was found; else a ConfigError with every problem."""
        if self.problems:
            raise self.error()
        return self.usable()


def without(values: dict[str, Any], paths: Iterable[tuple]) -> dict[str, Any] | None:
    """`values` (keys without the namespace) with the value at each path left out, so that its field's default
    takes its place; None when a path is not an optional field of a model."""
    values = copy.deepcopy(values)
    for path in paths:
        if not path or path[-1] not in _optional_fields(path[:-1]):
            return None
        parent: Any = values
        for part in path[:-1]:
            inside = isinstance(parent, dict) and part in parent
            inside = inside or (isinstance(parent, list) and isinstance(part, int) and part < len(parent))
            if not inside:
                return None
            parent = parent[part]
        if not isinstance(parent, dict):
            return None
        parent.pop(path[-1], None)
    return values


def _optional_fields(parts: tuple) -> set[str]:
    node = schema.node_at(parts)
    return set(node.get("properties", {})) - set(node.get("required", []))
