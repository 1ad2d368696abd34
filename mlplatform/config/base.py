"""What every config model shares: camelCase keys, strictness, the error types and the value types."""

from __future__ import annotations

from typing import Annotated, Literal

import pulumi
from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from mlplatform import rules
from mlplatform.conventions import NAMESPACE, property_path

ENVIRONMENTS = ("dev", "prod")
# Namespaces the platform creates for workloads.
WorkloadNamespace = Literal["training", "models", "notebooks"]
# DNS-1035 label: what Kubernetes and the training operator accept as an object name.
DNS_LABEL = r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$"
ModelVersionRef = Annotated[str, Field(pattern=rules.MODEL_VERSION.pattern)]
Quantity = Annotated[str, Field(pattern=r"^[0-9]+(\.[0-9]+)?(m|k|Ki|Mi|Gi|Ti|M|G|T)?$")]


class ConfigError(pulumi.RunError):
    """A config value that cannot be planned. RunError prints without a traceback under `pulumi up`."""

    def __init__(self, path: str, reason: str):
        self.path = path
        self.reason = reason
        super().__init__(f"{path}: {reason}")


class Model(BaseModel):
    """Base of every config model: camelCase keys, unknown keys rejected, frozen values."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True)


class PathError(ValueError):
    """A validation failure inside a model that knows a deeper path than pydantic would report."""

    def __init__(self, path: tuple, reason: str):
        self.path = path
        self.reason = reason
        super().__init__(reason)


def format_path(location: tuple) -> str:
    """('servings', 'color', 'predictors', 1, 'traffic') -> servings.color.predictors[1].traffic"""
    return property_path(location)


__all__ = ["NAMESPACE", "ConfigError", "Model", "PathError", "format_path"]
