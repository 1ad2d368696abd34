"""Upstream CRD schemas: where to find them, and what the API server does with an object against one.

The schemas are upstream truth, kept apart from the webhook rules we transcribed (`webhooks.py`), so an
upgrade of an operator shows what to re-check. They are looked up, in order:

1. `$MLP_CRD_DIR`, a folder of `<group>_<plural>.yaml` files;
2. `../shared/crds` beside the project (the team's shared reference data): the `mlp -C` project, this checkout,
   the working folder;
3. the user cache (`$XDG_CACHE_HOME/mlplatform/crds`, `~/.cache/...`), filled by
   `python -m mlplatform crds download` from the pinned upstream files in `crd-sources.json`,
   each checked against its sha256.

The first folder that exists is used whole; with none, `CrdsMissing` says how to get one.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import urllib.request
from collections.abc import Iterator
from contextvars import ContextVar
from pathlib import Path

import jsonschema
import yaml

from mlplatform.conventions import COMPUTED

CRDS_DIR_ENV = "MLP_CRD_DIR"
SOURCES = Path(__file__).with_name("crd-sources.json")
# What the API server keeps at the root of every object and of an embedded resource.
OBJECT_ROOT = ("apiVersion", "kind", "metadata")
OBJECT_META = {"name", "generateName", "namespace", "labels", "annotations", "finalizers", "ownerReferences"}

FieldPath = tuple  # keys and list indexes


class CrdsMissing(Exception):
    """No folder of upstream CRDs: the message says how to get one."""


# The project folder a command works on (`mlp -C <project>`), when it is not the working folder.
_project: ContextVar[Path | None] = ContextVar("project", default=None)


@contextlib.contextmanager
def for_project(project_dir: Path) -> Iterator[None]:
    """Within it, `../shared/crds` beside `project_dir` is looked up first (`mlp -C <project>` run from elsewhere)."""
    token = _project.set(project_dir)
    try:
        yield
    finally:
        _project.reset(token)


def shared_dir() -> Path:
    """`../shared/crds` beside the project: beside the command's project folder (`for_project`), this checkout, or
    the working folder (an installed package lives in site-packages, so the project is where the command runs)."""
    projects = [*filter(None, [_project.get()]), Path(__file__).resolve().parents[2], Path.cwd()]
    beside = [project.resolve().parent / "shared" / "crds" for project in projects]
    return next((folder for folder in beside if folder.is_dir()), beside[0])


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "mlplatform" / "crds"


def candidates() -> list[Path]:
    """The folders searched for CRDs, in order."""
    env = os.environ.get(CRDS_DIR_ENV)
    return [*([Path(env)] if env else []), shared_dir(), cache_dir()]


def crds_dir() -> Path:
    for folder in candidates():
        if folder.is_dir():
            return folder
    searched = ", ".join(str(folder) for folder in candidates())
    raise CrdsMissing(
        f"no upstream CRDs to validate against (looked in {searched}); run `python -m mlplatform crds download` "
        f"to fetch the pinned files into {cache_dir()}, or set {CRDS_DIR_ENV} to a folder of CRD YAML files"
    )


def sources() -> list[dict]:
    """The pinned upstream CRD files: file, url, sha256, tag."""
    return json.loads(SOURCES.read_text())


def download(target: Path | None = None, opener=urllib.request.urlopen) -> list[Path]:
    """Fetch every pinned CRD into `target` (the user cache), refusing any whose sha256 differs."""
    target = target or cache_dir()
    fetched: dict[str, bytes] = {}
    for source in sources():
        try:
            with opener(source["url"], timeout=60) as response:
                body = response.read()
        except OSError as error:  # urllib's URLError and HTTPError are OSErrors: no network, a proxy, a timeout
            reason = getattr(error, "reason", None) or error.strerror or error
            raise CrdsMissing(
                f"cannot download {source['url']} ({reason}); nothing written. Without network, set {CRDS_DIR_ENV} "
                "to a folder holding the CRD files (`mlp crds where` shows the folder in use)"
            ) from None
        digest = hashlib.sha256(body).hexdigest()
        if digest != source["sha256"]:
            raise CrdsMissing(f"{source['url']}: sha256 {digest} is not the pinned {source['sha256']}; nothing written")
        fetched[source["file"]] = body
    target.mkdir(parents=True, exist_ok=True)
    for name, body in fetched.items():
        (target / name).write_bytes(body)
    return [target / name for name in fetched]


# ---------------------------------------------------------------- schemas


@functools.cache
def _group_schemas(directory: Path, group: str) -> dict[tuple[str, str], dict]:
    """(apiVersion, kind) -> openAPIV3Schema of every served version of the group's CRDs, parsed once.

    CRD files are named `<group>_<plural>.yaml`, so only the group's files are read.
    """
    schemas = {}
    for path in sorted(directory.glob(f"{group}_*.yaml")):
        schemas.update({(api_version, kind): schema for api_version, kind, schema in _served_schemas(path)})
    return schemas


def parsed_cache_dir() -> Path:
    """Where parsed CRD schemas are kept as JSON, by the sha256 of their YAML file."""
    return cache_dir().parent / "crd-schemas"


def _served_schemas(path: Path) -> list[list]:
    """[apiVersion, kind, openAPIV3Schema] of each served version of one CRD file.

    Parsing YAML is slow (the kserve group is 7 MB: seconds even with libyaml), so the result is kept
    as JSON under `parsed_cache_dir()`, named by the file's sha256: an edited file is parsed again.
    """
    body = path.read_bytes()
    cached = parsed_cache_dir() / f"{hashlib.sha256(body).hexdigest()}.json"
    with contextlib.suppress(OSError, ValueError):
        return json.loads(cached.read_bytes())
    crd = yaml.load(body, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    spec = crd["spec"]
    served = [
        [f"{spec['group']}/{version['name']}", spec["names"]["kind"], version["schema"]["openAPIV3Schema"]]
        for version in spec["versions"]
        if version.get("served", True)
    ]
    with contextlib.suppress(OSError, TypeError, ValueError):
        text = json.dumps(served)
        if json.loads(text) == served:  # only what JSON keeps exactly (no YAML dates or non-string keys)
            cached.parent.mkdir(parents=True, exist_ok=True)
            partial = cached.with_suffix(f".{os.getpid()}.tmp")
            partial.write_text(text)
            os.replace(partial, cached)
    return served


def schema(api_version: str, kind: str) -> dict | None:
    group = api_version.rpartition("/")[0]
    return _group_schemas(crds_dir(), group).get((api_version, kind)) if "." in group else None


@functools.cache
def _validator(api_version: str, kind: str, directory: Path) -> jsonschema.Draft4Validator:
    """A JSON-schema validator for one CRD version, built once.

    OpenAPI v3.0 schemas are draft-4 dialect, and the draft-4 type checker also keeps the API server's
    integer rule: 90.0 is not an integer.
    """
    return jsonschema.Draft4Validator(
        _json_schema(_group_schemas(directory, api_version.rpartition("/")[0])[(api_version, kind)])
    )


def _json_schema(node: dict) -> dict:
    """The Kubernetes structural-schema extensions spelled as plain JSON schema."""
    result = {key: value for key, value in node.items() if key not in ("description", "format")}
    for key in ("properties", "patternProperties"):
        if key in result:
            result[key] = {name: _json_schema(child) for name, child in result[key].items()}
    for key in ("items", "not"):
        if isinstance(result.get(key), dict):
            result[key] = _json_schema(result[key])
    if isinstance(result.get("additionalProperties"), dict):
        result["additionalProperties"] = _json_schema(result["additionalProperties"])
    for key in ("allOf", "anyOf", "oneOf"):
        if key in result:
            result[key] = [_json_schema(child) for child in result[key]]
    if result.get("x-kubernetes-int-or-string"):
        result.pop("type", None)
        result.setdefault("anyOf", [{"type": "integer"}, {"type": "string"}])
    if result.get("x-kubernetes-embedded-resource"):
        result["required"] = sorted({*result.get("required", []), "apiVersion", "kind"})
    if result.pop("nullable", False) and "type" in result:
        result["type"] = [result["type"], "null"]
        if "enum" in result:
            result["enum"] = [*result["enum"], None]
    return result


# ---------------------------------------------------------------- findings


def where(path) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(root)"


def schema_errors(obj: dict) -> Iterator[str]:
    validator = _validator(obj["apiVersion"], obj["kind"], crds_dir())
    for error in sorted(validator.iter_errors(obj), key=lambda e: list(e.path)):
        if not is_computed(error.instance):
            yield f"{where(error.absolute_path)}: {error.message}"


def is_computed(value) -> bool:
    """A value the cloud fills in at apply time (an id, an ARN): the offline plan cannot judge its form."""
    return isinstance(value, str) and COMPUTED in value


def _pruned(value, node: dict, path: FieldPath) -> Iterator[FieldPath]:
    """Paths of fields the API server would drop: not in the schema, and unknown fields not preserved."""
    if isinstance(value, list) and isinstance(node.get("items"), dict):
        for index, item in enumerate(value):
            yield from _pruned(item, node["items"], (*path, index))
    if not isinstance(value, dict) or node.get("type") != "object":
        return
    properties = node.get("properties") or {}
    extra = node.get("additionalProperties")
    keeps_unknown = node.get("x-kubernetes-preserve-unknown-fields") or extra is True
    embedded = node.get("x-kubernetes-embedded-resource")
    for key, item in value.items():
        if key in properties:
            yield from _pruned(item, properties[key], (*path, key))
        elif isinstance(extra, dict):
            yield from _pruned(item, extra, (*path, key))
        elif embedded and key in OBJECT_ROOT:
            yield from _unknown_metadata(item, (*path, key)) if key == "metadata" else ()
        elif not keeps_unknown:
            yield (*path, key)


def _unknown_metadata(metadata, path: FieldPath) -> Iterator[FieldPath]:
    if isinstance(metadata, dict):
        yield from ((*path, key) for key in metadata if key not in OBJECT_META)


def prune_errors(obj: dict, node: dict) -> Iterator[str]:
    paths = list(_unknown_metadata(obj.get("metadata"), ("metadata",)))
    body = {key: value for key, value in obj.items() if key not in OBJECT_ROOT}
    paths += _pruned(body, node, ())
    for path in paths:
        yield f"{where(path)}: not in the schema, the API server would prune it"
