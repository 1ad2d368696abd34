"""Reading Pulumi.yaml and Pulumi.<stack>.yaml the way the Pulumi CLI does, for the offline commands."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, replace
from pathlib import Path

import yaml

from mlplatform.config import NAMESPACE, StackConfig, parse
from mlplatform.config.loading import PLACEHOLDER_SECRETS_ENV, ConfigSource, required_secrets
from mlplatform.conventions import SECRET_TEXT


class UsageError(Exception):
    """A command-line or project-file mistake: printed on one line, exit code 2."""


@dataclass(frozen=True)
class StackFiles:
    project: str
    stack: str
    # Flat Pulumi config, as the CLI hands it to the program: "ns:key" -> string (JSON for structured values).
    config: dict[str, str]
    secret_keys: list[str]
    # The folder holding Pulumi.yaml, for file positions in config errors.
    project_dir: Path | None = None

    def source(self) -> ConfigSource | None:
        return ConfigSource.of(self.project_dir, self.stack) if self.project_dir else None

    def settings(self) -> StackConfig:
        """The validated `ml-platform:` config; a ConfigError names the file, line and column of each problem."""
        return parse(self.namespace_values(), self.source())

    def namespace_values(self) -> dict[str, object]:
        """The `ml-platform:` values as plain data (structured values decoded)."""
        prefix = f"{NAMESPACE}:"
        values = {}
        for key, text in self.config.items():
            if key.startswith(prefix):
                try:
                    values[key[len(prefix) :]] = json.loads(text)
                except json.JSONDecodeError:
                    values[key[len(prefix) :]] = text
        return values


class DuplicateKey(yaml.constructor.ConstructorError):
    """A key written twice in one mapping: Pulumi's YAML parser refuses the file, so the offline tools do too."""


def _refusing_duplicates(loader: type) -> type:
    """`loader` that refuses a mapping key written twice (PyYAML keeps the last silently); merged keys (`<<`)
    may still be overridden, as YAML allows."""

    class Loader(loader):
        def construct_mapping(self, node, deep=False):
            seen: dict = {}
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self.construct_object(key_node, deep=True)
                try:
                    first = seen.setdefault(key, key_node.start_mark)
                except TypeError:  # an unhashable key: PyYAML's own error says so
                    continue
                if first is not key_node.start_mark:
                    raise DuplicateKey(
                        None,
                        None,
                        f"duplicate key {key!r} (first at line {first.line + 1}): Pulumi refuses a key written twice",
                        key_node.start_mark,
                    )
            return super().construct_mapping(node, deep=deep)

    return Loader


# libyaml's parser (a generated 1,000-serving stack file takes seconds with the pure-Python one), and the
# pure-Python one, whose messages and positions are better, for a file that does not load.
_FAST_LOADER = _refusing_duplicates(getattr(yaml, "CSafeLoader", yaml.SafeLoader))
_LOADER = _refusing_duplicates(yaml.SafeLoader)


def project_file(project_dir: Path) -> Path:
    """Pulumi.yaml of the project; outside a project, a UsageError that says where to run."""
    path = project_dir / "Pulumi.yaml"
    if not path.is_file():
        raise UsageError(
            f"no Pulumi project here ({project_dir} has no Pulumi.yaml): run in the ml-platform folder or pass -C <folder>"
        )
    return path


def read_yaml(path: Path) -> dict:
    """Load a YAML mapping, naming the file, line and column of a syntax error or a duplicated key."""
    try:
        text = path.read_text()
        try:
            data = yaml.load(text, Loader=_FAST_LOADER)
        except yaml.YAMLError:
            data = yaml.load(text, Loader=_LOADER)  # raises with the pure-Python parser's message and position
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark
        where = f"{path.name}:{mark.line + 1}:{mark.column + 1}" if mark else path.name
        kind = "" if isinstance(error, DuplicateKey) else "malformed YAML: "
        raise UsageError(f"{where}: {kind}{error.problem}") from None
    except OSError as error:
        raise UsageError(f"{path}: {error.strerror}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise UsageError(f"{path.name}: expected a mapping at the top level")
    return data


def stack_names(project_dir: Path) -> list[str]:
    return sorted(p.name[len("Pulumi.") : -len(".yaml")] for p in project_dir.glob("Pulumi.*.yaml"))


def stack_file(project_dir: Path, stack: str) -> Path:
    """Path of Pulumi.<stack>.yaml; an unknown stack is a UsageError that lists the known ones."""
    path = project_dir / f"Pulumi.{stack}.yaml"
    if not path.is_file():
        project_file(project_dir)  # outside a project, say so rather than list no stacks
        known = ", ".join(stack_names(project_dir)) or "none"
        raise UsageError(f"unknown stack {stack!r}: the stacks are {known}")
    return path


def _flatten(key: str, value: object, secret_keys: list[str]) -> str:
    """Render one config value as the CLI does: strings as-is, structured values as JSON."""

    def reveal(node: object) -> object:
        if isinstance(node, dict):
            if set(node) == {"secure"}:
                if key not in secret_keys:
                    secret_keys.append(key)
                return SECRET_TEXT  # offline there is no key to decrypt `secure:` values
            return {k: reveal(v) for k, v in node.items()}
        if isinstance(node, list):
            return [reveal(v) for v in node]
        return node

    plain = reveal(value)
    if isinstance(plain, str):
        return plain
    if isinstance(plain, bool):
        return "true" if plain else "false"
    return json.dumps(plain)


def load(project_dir: Path, stack: str) -> StackFiles:
    """Project defaults from Pulumi.yaml overlaid by Pulumi.<stack>.yaml."""
    project_doc = read_yaml(project_file(project_dir))
    project = project_doc.get("name")
    if not project:
        raise UsageError("Pulumi.yaml: no project name")
    raw: dict[str, object] = {}
    for key, spec in (project_doc.get("config") or {}).items():
        full = key if ":" in key else f"{project}:{key}"
        raw[full] = spec.get("default") if isinstance(spec, dict) and "default" in spec else spec
    stack_doc = read_yaml(stack_file(project_dir, stack))
    for key, value in (stack_doc.get("config") or {}).items():
        raw[key if ":" in key else f"{project}:{key}"] = value
    secret_keys: list[str] = []
    config = {key: _flatten(key, value, secret_keys) for key, value in raw.items() if value is not None}
    files = StackFiles(project=project, stack=stack, config=config, secret_keys=secret_keys, project_dir=project_dir)
    return _with_placeholders(files) if os.environ.get(PLACEHOLDER_SECRETS_ENV) else files


def _with_placeholders(files: StackFiles) -> StackFiles:
    """The stack files with `[secret]` for each secret the config needs but the stack does not set
    (`MLP_PLACEHOLDER_SECRETS=1`): offline no secret is ever decrypted, so the plan is the same."""
    missing = [need.secret for need in required_secrets(files.settings()) if need.secret not in files.config]
    config = {**files.config, **dict.fromkeys(missing, SECRET_TEXT)}
    return replace(files, config=config, secret_keys=[*files.secret_keys, *missing])
