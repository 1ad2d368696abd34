"""Built-in kinds (Deployment, Service, NetworkPolicy, ...) against the Kubernetes OpenAPI schema of the
cluster's version, with `kubernetes-validate`'s strict schemas (unknown fields are errors)."""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator

import jsonschema
import kubernetes_validate
from kubernetes_validate.utils import all_versions, major_minor, schema_contents
from referencing import Registry, Resource

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
    validator = _validator(kubernetes_version, obj["apiVersion"], obj["kind"])
    if validator is None:
        return None
    error = next(validator.iter_errors(obj), None)  # the error `kubernetes_validate.validate` raises
    if error is not None and not is_computed(error.instance):
        return [f"{where(error.absolute_path)}: {error.message}", *floats(obj)]
    return list(floats(obj))


@functools.cache
def _versions() -> tuple[str, ...]:
    return tuple(all_versions())


@functools.cache
def _definitions(schema_dir: str) -> Resource:
    return Resource.from_contents(schema_contents(f"kubernetes-json-schema/{schema_dir}/_definitions.json", ""))


@functools.cache
def _validator(kubernetes_version: str, api_version: str, kind: str) -> jsonschema.Draft202012Validator | None:
    """kubernetes-validate's strict validator for one kind, built once per (version, apiVersion, kind).

    `kubernetes_validate.validate(obj, version, strict=True)` does the same but reads the kind's schema
    and the version's `_definitions.json` (megabytes) and builds a fresh validator for every object.
    Same schema choice: the newest schema version not newer than `kubernetes_version`.
    """
    if major_minor(kubernetes_version) > major_minor(_versions()[-1]):
        raise kubernetes_validate.VersionNotSupportedError(version=major_minor(kubernetes_version))
    version = [v for v in _versions() if major_minor(v) <= major_minor(kubernetes_version)][-1]
    group_version = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)
    schema_dir = f"v{version}-local-strict"
    try:
        schema = schema_contents(
            f"kubernetes-json-schema/{schema_dir}/{kind.lower()}-{group_version}.json", kubernetes_version
        )
    except FileNotFoundError:
        return None
    registry = _definitions(schema_dir) @ (Resource.from_contents(schema) @ Registry())
    return jsonschema.Draft202012Validator(schema, registry=registry)
