"""Reading the stack config: from raw values (offline tools) or from the running Pulumi program.

Every problem of a stack file is reported in one run, one line each, as a compiler would:

    Pulumi.prod.yaml:42:9: ml-platform:servings.color.predictors[0].trafic: unknown key (did you mean 'traffic'?)

The file and line come from the stack file itself (`ConfigSource`), under the offline tools and under
`pulumi up` alike; messages say what a value should look like, never a regular expression.
"""

from __future__ import annotations

import difflib
import functools
import json
import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal, NoReturn, get_origin

import pulumi
from pydantic import ValidationError

from mlplatform.config import schema
from mlplatform.config.base import NAMESPACE, ConfigError, PathError, Problem, describe_pattern, format_path, parse_path
from mlplatform.config.reading import Reading, without
from mlplatform.config.stack import CROSS_CHECKS, StackConfig

# ---------------------------------------------------------------- where a key is written


@dataclass(frozen=True)
class ConfigSource:
    """The files a stack's config comes from: Pulumi.<stack>.yaml, then the project defaults of Pulumi.yaml."""

    stack_file: Path
    project_file: Path | None = None

    @classmethod
    def of(cls, project_dir: Path, stack: str) -> ConfigSource:
        return cls(project_dir / f"Pulumi.{stack}.yaml", project_dir / "Pulumi.yaml")

    def where(self, key: str) -> str:
        """`Pulumi.prod.yaml:42:9` of a full config key, or as near as the file has it; the file name at least."""
        parts = parse_path(key)
        for path in (self.stack_file, self.project_file):
            position = _position(path, parts) if path else None
            if position:
                return f"{path.name}:{position[0] + 1}:{position[1] + 1}"
        return self.stack_file.name


@functools.lru_cache(maxsize=8)
def _document(path: Path, mtime: float) -> Any:
    from ruamel.yaml import YAML

    try:
        return YAML().load(path.read_text())
    except Exception:  # a file that does not parse has no positions to give
        return None


def _position(path: Path, parts: tuple) -> tuple[int, int] | None:
    """(line, column), 0-based, of the deepest part of `parts` that `path` writes; None if not even the key."""
    try:
        document = _document(path, path.stat().st_mtime)
    except OSError:
        return None
    config = document.get("config") if isinstance(document, dict) else None
    if not isinstance(config, dict) or not parts:
        return None
    top = next((key for key in (f"{NAMESPACE}:{parts[0]}", parts[0]) if key in config), None)
    if top is None:
        return None
    position = config.lc.key(top)
    node = config[top]
    if isinstance(node, dict) and set(node) == {"default"} and path.name == "Pulumi.yaml":
        node = node["default"]
    for part in parts[1:]:
        if isinstance(node, dict) and part in node and hasattr(node, "lc"):
            position, node = node.lc.key(part), node[part]
        elif isinstance(node, list) and isinstance(part, int) and part < len(node) and hasattr(node, "lc"):
            position, node = node.lc.item(part), node[part]
        else:
            break
    return position


# ---------------------------------------------------------------- pydantic's errors as sentences


def _suggest(word: str, choices: list) -> str:
    texts = [str(choice) for choice in choices]
    lowered = {text.lower(): text for text in texts}
    match = lowered.get(str(word).lower()) if str(word) not in texts else None
    if not match:
        close = difflib.get_close_matches(str(word), texts, n=1, cutoff=0.6)
        match = close[0] if close else None
    return f" (did you mean {match!r}?)" if match else ""


def _shown(value: Any) -> str:
    if isinstance(value, dict | list):
        return "a mapping" if isinstance(value, dict) else "a list"
    return repr(value)


def _reason(error: dict, location: tuple) -> str:
    kind, value, context = error["type"], error.get("input"), error.get("ctx", {})
    if kind == "extra_forbidden":
        return "unknown key" + _suggest(location[-1], schema.keys_at(location[:-1]))
    if kind == "missing":
        return "required, but not given"
    if kind in ("literal_error", "enum"):
        allowed = schema.choices_at(location)
        listed = ", ".join(repr(choice) for choice in allowed) or context.get("expected", "")
        return f"{_shown(value)} is not one of {listed}" + _suggest(value, allowed)
    if kind == "string_pattern_mismatch":
        return f"{_shown(value)}: {describe_pattern(context.get('pattern', ''))}"
    if kind in ("int_parsing", "int_type", "int_from_float"):
        return f"{_shown(value)} is not a whole number"
    if kind in ("bool_parsing", "bool_type"):
        return f"{_shown(value)} is not true or false"
    if kind in ("string_type",):
        return f"{_shown(value)} is not text"
    if kind in ("dict_type", "model_type", "model_attributes_type"):
        return f"expected a mapping of keys to values, got {_shown(value)}"
    if kind in ("list_type", "tuple_type"):
        return f"expected a list, got {_shown(value)}"
    if kind == "greater_than_equal":
        return f"{value} is less than the minimum, {context.get('ge')}"
    if kind == "less_than_equal":
        return f"{value} is more than the maximum, {context.get('le')}"
    if kind == "too_short":
        return f"needs at least {context.get('min_length')} item(s)"
    message = error["msg"].removeprefix("Value error, ")
    return message.replace("Input should be", "should be").replace("String should", "text should")


# Parts of pydantic's error locations that name its validators, not config keys.
SCHEMA_PARTS = ("function-", "json-or-python")


def _problem(error: dict) -> Problem:
    location = tuple(part for part in error["loc"] if not str(part).startswith(SCHEMA_PARTS))
    cause = error.get("ctx", {}).get("error")
    if isinstance(cause, PathError):
        location, reason = location + cause.path, cause.reason
    elif location and location[-1] == "[key]":
        location = location[:-1]
        reason = f"the name {location[-1]!r} is not valid: {describe_pattern(error.get('ctx', {}).get('pattern', ''))}"
        if error["type"] != "string_pattern_mismatch":
            reason = f"the name {location[-1]!r} is not valid: {_reason(error, location)}"
    else:
        reason = _reason(error, location)
    return Problem(f"{NAMESPACE}:{format_path(location)}", reason)


def problems_of(error: ValidationError) -> list[Problem]:
    """Every problem pydantic found, each once. A required key that is only misspelt (`imag` for `image`)
    is reported once, as the unknown key with its suggestion, not again as missing."""
    items = error.errors()
    misspelt = set()
    for item in items:
        if item["type"] == "extra_forbidden":
            location = tuple(item["loc"])
            suggestion = _suggest(location[-1], schema.keys_at(location[:-1]))
            if suggestion:
                misspelt.add(f"{NAMESPACE}:{format_path((*location[:-1], suggestion.split(chr(39))[1]))}")
    seen: dict[tuple[str, str], Problem] = {}
    for item in items:
        problem = _problem(item)
        if item["type"] == "missing" and problem.key in misspelt:
            continue
        seen.setdefault((problem.key, problem.reason), problem)
    return list(seen.values())


def _validated(values: dict[str, Any]) -> tuple[StackConfig, list[Problem]]:
    """The models of `values` and the problems of their cross-checks; a ValidationError for the fields."""
    crossed: list[PathError] = []
    settings = StackConfig.model_validate(values, context={CROSS_CHECKS: crossed})
    return settings, [Problem(f"{NAMESPACE}:{format_path(problem.path)}", problem.reason) for problem in crossed]


def read(raw: dict[str, Any], source: ConfigSource | None = None) -> Reading:
    """Every problem of raw config values (keys without the namespace), fields and cross-checks, and the config
    they leave for later rules (`reading.Reading`)."""
    try:
        settings, crossed = _validated(raw)
        reading = Reading(settings).adding(crossed)
    except ValidationError as error:
        locations = [tuple(p for p in e["loc"] if not str(p).startswith(SCHEMA_PARTS)) for e in error.errors()]
        reading = Reading(None, tuple(problems_of(error)), tuple(locations))
        rest = without(raw, locations)
        try:
            settings, crossed = _validated(rest) if rest is not None else (None, [])
        except ValidationError:  # what remains needs a refused value
            settings, crossed = None, []
        reading = replace(reading, settings=settings).adding(crossed)
    return reading.located(source.where if source else None)


def parse(raw: dict[str, Any], source: ConfigSource | None = None) -> StackConfig:
    """Validate raw config values (keys without the namespace) or raise a ConfigError with every problem."""
    return read(raw, source).settled()


# ---------------------------------------------------------------- under `pulumi up`


def _runtime_values() -> dict[str, Any]:
    """Every `ml-platform:` key the Pulumi CLI handed the program (PULUMI_CONFIG, as the SDK reads it)."""
    from pulumi.runtime import config as runtime_config

    values = {**runtime_config.get_config_env(), **runtime_config.CONFIG.get()}
    prefix = f"{NAMESPACE}:"
    return {
        key[len(prefix) :].removeprefix("config:"): value for key, value in values.items() if key.startswith(prefix)
    }


def _project_dir() -> Path:
    """Where Pulumi.yaml is: the SDK's root directory, else the program's folder, else the working folder."""
    try:
        root = pulumi.runtime.get_root_directory()
    except Exception:
        root = None
    # Under the SDK's mocks the root directory is not a folder (it reads "root_directory"): check.
    if isinstance(root, str) and (Path(root) / "Pulumi.yaml").is_file():
        return Path(root)
    program = getattr(sys.modules.get("__main__"), "__file__", None)
    if program and (Path(program).parent / "Pulumi.yaml").is_file():
        return Path(program).parent
    return Path.cwd()


def _decode(key: str, value: Any) -> Any:
    """A config value as the program sees it: text for text fields, JSON for structured ones."""
    if not isinstance(value, str):
        return value
    field = StackConfig.model_fields.get(key) or next(
        (f for f in StackConfig.model_fields.values() if f.alias == key), None
    )
    is_text = field is not None and (field.annotation is str or get_origin(field.annotation) is Literal)
    if is_text:
        return value
    try:
        return json.loads(value)
    except json.JSONDecodeError:
        return value  # text where a structure is expected: the model says what it wanted


def program_source() -> ConfigSource | None:
    """The stack file of the running program, when the project folder has one."""
    source = ConfigSource.of(_project_dir(), pulumi.get_stack())
    return source if source.stack_file.is_file() else None  # else config from elsewhere (ESC, the service)


async def locating(awaitable):
    """Await the stack composition; a ConfigError it raises (a cross-check of the composition) gets its place
    in the stack file, as the errors of `load()` have."""
    try:
        return await awaitable
    except ConfigError as error:
        source = program_source()
        raise (error.locate(source.where) if source and not error.located else error) from None


# ---------------------------------------------------------------- secrets outside `ml-platform:`

# Secrets live in a namespace of their own: `ml-platform:` takes no secure values.
SECRETS_NAMESPACE = "ml-platform-secrets"
# Set (to anything) for the offline tools to plan a secret the stack does not set as `[secret]`, as they plan every
# secret (offline none is decrypted); `pulumi up` still needs it set.
PLACEHOLDER_SECRETS_ENV = "MLP_PLACEHOLDER_SECRETS"


@dataclass(frozen=True)
class SecretNeed:
    """A secret config key the program reads because of a setting: which (`key`), for what (`what`)."""

    key: str
    secret: str
    what: str


def required_secrets(settings: StackConfig) -> list[SecretNeed]:
    """The secrets this config makes the program read (`stacks/workloads.py`), each with the setting that needs it."""
    sso = settings.notebook_sso
    if sso is None or not settings.notebooks:
        return []
    secret = f"{SECRETS_NAMESPACE}:{sso.client_secret_key}"
    return [SecretNeed(f"{NAMESPACE}:notebookSso", secret, "its OIDC client secret")]


def missing_secrets(settings: StackConfig, stack: str) -> list[Problem]:
    """A problem for each secret the config needs that the program's config does not set, saying how to set it."""
    problems = []
    for need in required_secrets(settings):
        namespace, _, name = need.secret.partition(":")
        if pulumi.Config(namespace).get(name) is None:
            command = f"pulumi config set --stack {stack} --secret {need.secret} <value>"
            offline = f"{PLACEHOLDER_SECRETS_ENV}=1 mlp preview -s {stack}"
            reason = f"needs {need.what}, {need.secret}, which is not set: run `{command}` (to preview offline without it: `{offline}`)"
            problems.append(Problem(need.key, reason))
    return problems


def read_program() -> Reading:
    """Read the whole `ml-platform:` namespace from the running Pulumi program's config and validate it, as far as
    it reads: the stack composition judges the rest by its environment's rules and reports every problem at once.

    Every key is read, so a misspelt top-level key (`servingz`) is refused like any other unknown key.
    """
    source = program_source()
    raw, problems = {}, []
    for key, value in sorted(_runtime_values().items()):
        full = f"{NAMESPACE}:{key}"
        if pulumi.runtime.is_config_secret(full):
            problems.append(
                Problem(
                    full,
                    "takes no secure value: it would reach cloud and Kubernetes inputs in plain text "
                    "(credentials are created by the stack and kept secret)",
                )
            )
            continue
        raw[key] = _decode(key, value)
    if problems:
        _refuse(problems, source)
    reading = read(raw, source)
    if reading.settings is not None:
        reading = reading.adding(missing_secrets(reading.settings, pulumi.get_stack()))
    return reading.located(source.where if source else None)


def load() -> StackConfig:
    """The program's config (`read_program`); a ConfigError with every problem when it has any."""
    return read_program().settled()


def _refuse(problems: list[Problem], source: ConfigSource | None) -> NoReturn:
    failure = ConfigError.of(problems)
    raise failure.locate(source.where) if source else failure
