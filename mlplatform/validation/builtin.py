"""Built-in kinds (Deployment, Service, NetworkPolicy, ...) against the Kubernetes OpenAPI schema of the
cluster's version, with `kubernetes-validate`'s strict schemas (unknown fields are errors)."""

from __future__ import annotations

from collections.abc import Iterator

import kubernetes_validate
from kubernetes_validate.utils import all_versions

from mlplatform.validation.crds import is_computed, where

DEFAULT_KUBERNETES_VERSION = "1.31"


def supported_versions() -> list[str]:
    """The Kubernetes minor versions kubernetes-validate holds schemas for, e.g. ['1.25', ..., '1.37']."""
    minors = {".".join(version.split(".")[:2]) for version in all_versions()}
    return sorted(minors, key=lambda minor: tuple(map(int, minor.split("."))))


def floats(value, path: tuple = ()) -> Iterator[str]:
    """A float in a built-in object is an integer rendered wrong: core kinds have no float fields."""
    if isinstance(value, float):
        yield f"{where(path)}: {value!r} is a float; Kubernetes wants an integer here"
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from floats(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from floats(item, (*path, index))


def errors(obj: dict, kubernetes_version: str = DEFAULT_KUBERNETES_VERSION) -> list[str] | None:
    """kubernetes-validate's verdict (its first error), or None when it has no schema for the kind."""
    try:
        kubernetes_validate.validate(obj, kubernetes_version, strict=True)
    except kubernetes_validate.SchemaNotFoundError:
        return None
    except kubernetes_validate.ValidationError as error:
        if is_computed(error.instance):
            return list(floats(obj))
        return [f"{where(error.absolute_path)}: {error.message}", *floats(obj)]
    return list(floats(obj))
