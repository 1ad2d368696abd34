"""What every config model shares: camelCase keys, strictness, the error types and the value types.

Every field carries a docstring right under it: pydantic turns it into the field's description
(`use_attribute_docstrings`), which is what `mlp schema` publishes and what editors show.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Annotated, Any, Literal

import pulumi
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, WithJsonSchema
from pydantic.alias_generators import to_camel

from mlplatform import rules
from mlplatform.conventions import NAMESPACE, property_path

ENVIRONMENTS = ("dev", "prod")
# Namespaces the platform creates for workloads.
WorkloadNamespace = Literal["training", "models", "notebooks"]
# DNS-1035 label: what Kubernetes and the training operator accept as an object name.
DNS_LABEL = r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$"
ModelVersionRef = Annotated[str, Field(pattern=rules.MODEL_VERSION.pattern)]

# What a value of each pattern looks like, in words: error messages never show a regular expression.
# A pattern without an entry here is reported as "does not have the expected form".
PATTERN_HINTS: dict[str, str] = {
    DNS_LABEL: "a name of lowercase letters, digits and '-', starting with a letter, ending with a letter or "
    "digit, at most 63 characters (a DNS label)",
    rules.MODEL_VERSION.pattern: f"a model version ({rules.MODEL_VERSION_FORM})",
    r"^1\.\d+": "a Kubernetes version such as 1.31 or 1.31.1-aliyun.1",
    r"^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$": "a bucket name of 3 to 63 lowercase letters, digits and '-', "
    "starting and ending with a letter or digit",
    r"^v1\.9\.\d+$": "a training-operator release of the v1.9 line, such as v1.9.4",
    r"^[A-Za-z0-9-]+: ?[^\s:][^:]*$": "a header as `name: value`, with a single colon (e.g. `style: transfer`)",
}


def describe_pattern(pattern: str) -> str:
    hint = PATTERN_HINTS.get(pattern)
    return f"expected {hint}" if hint else "does not have the expected form"


# ---------------------------------------------------------------- value types


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _number_text(value: int | float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


# CPU: whole or decimal cores (2, 0.5) or millicores (500m), as Kubernetes reads a CPU quantity.
CPU_PATTERN = r"^([0-9]+(\.[0-9]+)?|\.[0-9]+|[0-9]+m)$"
# Sizes (memory, volumes): plain bytes or a decimal (k, M, G, T, P, E) or binary (Ki ... Ei) suffix.
SIZE_PATTERN = r"^[0-9]+(\.[0-9]+)?(k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$"
_SIZE_UNITS = {"k": "k", "kb": "k", "m": "M", "mb": "M", "g": "G", "gb": "G", "t": "T", "tb": "T", "p": "P", "pb": "P"}
_MIN_BYTES = 2**20  # a size below 1Mi written without a unit is a forgotten unit, not a size


def _cpu(value: Any) -> Any:
    """Cores as `pulumi config set --path` stores them (2 is an integer) or as text ("2", "0.5", "500m")."""
    if _is_number(value):
        if value <= 0:
            raise ValueError(f"cpu {value} is not a positive number of cores")
        return _number_text(value)
    if isinstance(value, str) and not re.fullmatch(CPU_PATTERN, value):
        raise ValueError(f"{value!r} is not a CPU amount: write cores (2, 0.5) or millicores (500m)")
    return value


def _size(value: Any) -> Any:
    """A Kubernetes quantity of bytes; `2GB`, `2g` or `2gi` get the two spellings Kubernetes takes."""
    if _is_number(value):
        if value < _MIN_BYTES:
            raise ValueError(
                f"{_number_text(value)} would mean {_number_text(value)} bytes: add a unit, "
                f"{_number_text(value)}Gi (gibibytes, 2^30 bytes) or {_number_text(value)}G (10^9 bytes)"
            )
        return _number_text(value)
    if isinstance(value, str) and not re.fullmatch(SIZE_PATTERN, value):
        match = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([A-Za-z]+)\s*", value)
        if match:
            amount, unit = match.groups()
            unit = unit.lower()
            binary = unit.removesuffix("b").removesuffix("i")
            decimal = _SIZE_UNITS.get(binary, "")
            if decimal:
                binary_unit = ("K" if decimal == "k" else decimal) + "i"
                power = "kMGTPE".index(decimal) + 1
                raise ValueError(
                    f"{value!r} is not a Kubernetes quantity: write {amount}{binary_unit} ({amount} x 2^{10 * power} "
                    f"bytes) or {amount}{decimal} ({amount} x 10^{3 * power} bytes)"
                )
        raise ValueError(f"{value!r} is not a Kubernetes quantity such as 4Gi (binary) or 4G (decimal)")
    return value


def _text(value: Any) -> Any:
    """Text that `pulumi config set --path` may have stored as a number or a boolean (an env value `8080`)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if _is_number(value):
        return _number_text(value)
    return value


Cpu = Annotated[
    str,
    BeforeValidator(_cpu),
    WithJsonSchema({"anyOf": [{"type": "string", "pattern": CPU_PATTERN}, {"type": "number", "exclusiveMinimum": 0}]}),
]
Size = Annotated[
    str,
    BeforeValidator(_size),
    WithJsonSchema(
        {"anyOf": [{"type": "string", "pattern": SIZE_PATTERN}, {"type": "integer", "minimum": _MIN_BYTES}]}
    ),
]
# Kept for call sites that name the old type: a size (memory, storage).
Quantity = Size
Text = Annotated[str, BeforeValidator(_text), WithJsonSchema({"type": ["string", "number", "boolean"]})]


# ---------------------------------------------------------------- errors


@dataclass(frozen=True)
class Problem:
    """One refused config value: its full key (`ml-platform:servings.color`), why, and where in which file."""

    key: str
    reason: str
    # `Pulumi.prod.yaml:42:9`, or just the file name, when known.
    where: str = ""

    def __str__(self) -> str:
        return f"{self.where}: {self.key}: {self.reason}" if self.where else f"{self.key}: {self.reason}"


class ConfigError(pulumi.RunError):
    """Config values that cannot be planned, one line each. RunError prints without a traceback under `pulumi up`."""

    def __init__(self, path: str, reason: str = "", problems: list[Problem] | None = None):
        self.problems = list(problems) if problems else [Problem(path, reason)]
        self.path = self.problems[0].key
        self.reason = self.problems[0].reason
        super().__init__("\n".join(str(problem) for problem in self.problems))

    @classmethod
    def of(cls, problems: list[Problem]) -> ConfigError:
        return cls(problems[0].key, problems[0].reason, problems)

    @property
    def located(self) -> bool:
        return all(problem.where for problem in self.problems)

    def locate(self, where: Callable[[str], str]) -> ConfigError:
        """The same error with `where(key)` filled in for the problems that do not know their place yet."""
        problems = [
            problem if problem.where else replace(problem, where=where(problem.key)) for problem in self.problems
        ]
        return ConfigError.of(sorted(problems, key=_file_order))


def _file_order(problem: Problem) -> tuple:
    """Problems of one file by line and column; those without a line after them, in their own order."""
    name, _, position = problem.where.partition(":")
    line, _, column = position.partition(":")
    return (name, 0, int(line), int(column)) if line.isdigit() and column.isdigit() else (name, 1, 0, 0)


class Model(BaseModel):
    """Base of every config model: camelCase keys, unknown keys rejected, frozen values, documented fields."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        frozen=True,
        use_attribute_docstrings=True,
    )


class PathError(ValueError):
    """A validation failure inside a model that knows a deeper path than pydantic would report."""

    def __init__(self, path: tuple, reason: str):
        self.path = path
        self.reason = reason
        super().__init__(reason)


def format_path(location: tuple) -> str:
    """('servings', 'color', 'predictors', 1, 'traffic') -> servings.color.predictors[1].traffic"""
    return property_path(location)


def parse_path(text: str) -> tuple:
    """The inverse of `format_path`: `servings.color.predictors[1].traffic` -> ('servings', 'color', 'predictors', 1, 'traffic')

    A full key (`ml-platform:servings`) loses its namespace; quoted keys (`labels["a.b/c"]`) stay whole.
    """
    text = text.removeprefix(f"{NAMESPACE}:")
    parts: list = []
    for match in re.finditer(r'\[("(?:[^"\\]|\\.)*")\]|\[([0-9]+)\]|([^.\[\]]+)', text):
        quoted, index, plain = match.groups()
        parts.append(json.loads(quoted) if quoted else int(index) if index else plain)
    return tuple(parts)


__all__ = [
    "NAMESPACE",
    "ConfigError",
    "Cpu",
    "Model",
    "PathError",
    "Problem",
    "Size",
    "Text",
    "format_path",
    "parse_path",
]
