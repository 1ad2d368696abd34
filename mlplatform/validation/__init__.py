"""Would the cluster accept these objects? Rendered Kubernetes objects (plain dicts) checked offline.

- Custom resources against their upstream CRD (`../shared/crds/`, or the MLPLATFORM_CRDS_DIR
  directory): the openAPIV3Schema as the API server applies it (int-or-string, nullable, embedded
  resources, integers that must not be floats) and the fields it would silently prune.
- The operators' admission webhook rules the schemas do not carry (training operator, Seldon Core v1).
- Core objects (Deployment, Service, ConfigMap, ...) with `kubernetes-validate`'s strict schemas for
  the cluster's Kubernetes version; a float in a core object is an integer rendered wrong (core kinds
  have no float fields).

A kind we hold no schema for (e.g. an Istio VirtualService) is not checked; `strict=True` reports it
as "no schema" instead, for callers that must prove every object was checked.
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import jsonschema
import kubernetes_validate
import yaml

KUBERNETES_VERSION = "1.31"
CRDS_DIR_ENV = "MLPLATFORM_CRDS_DIR"
# What the API server keeps at the root of every object and of an embedded resource.
OBJECT_ROOT = ("apiVersion", "kind", "metadata")
OBJECT_META = {
    "name",
    "generateName",
    "namespace",
    "labels",
    "annotations",
    "finalizers",
    "ownerReferences",
}
DNS_1035 = re.compile(r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$")

FieldPath = tuple  # keys and list indexes


def crds_dir() -> Path:
    return Path(os.environ.get(CRDS_DIR_ENV) or Path(__file__).parents[3] / "shared" / "crds")


# ---------------------------------------------------------------- schemas


@functools.cache
def _group_schemas(directory: Path, group: str) -> dict[tuple[str, str], dict]:
    """(apiVersion, kind) -> openAPIV3Schema of every served version of the group's CRDs, parsed once.

    CRD files are named `<group>_<plural>.yaml`, so only the group's files are read.
    """
    schemas = {}
    for path in sorted(directory.glob(f"{group}_*.yaml")):
        with path.open() as stream:
            crd = yaml.load(stream, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
        spec = crd["spec"]
        for version in spec["versions"]:
            if version.get("served", True):
                schemas[(f"{spec['group']}/{version['name']}", spec["names"]["kind"])] = version["schema"][
                    "openAPIV3Schema"
                ]
    return schemas


def _crd_schema(api_version: str, kind: str) -> dict | None:
    group = api_version.rpartition("/")[0]
    return _group_schemas(crds_dir(), group).get((api_version, kind)) if "." in group else None


@functools.cache
def _validator(api_version: str, kind: str) -> jsonschema.Draft4Validator:
    """A JSON-schema validator for one CRD version, built once.

    OpenAPI v3.0 schemas are draft-4 dialect, and the draft-4 type checker also keeps the API server's
    integer rule: 90.0 is not an integer.
    """
    return jsonschema.Draft4Validator(_json_schema(_crd_schema(api_version, kind)))


def _json_schema(node: dict) -> dict:
    """The Kubernetes structural-schema extensions spelled as plain JSON schema."""
    schema = {key: value for key, value in node.items() if key not in ("description", "format")}
    for key in ("properties", "patternProperties"):
        if key in schema:
            schema[key] = {name: _json_schema(child) for name, child in schema[key].items()}
    for key in ("items", "not"):
        if isinstance(schema.get(key), dict):
            schema[key] = _json_schema(schema[key])
    if isinstance(schema.get("additionalProperties"), dict):
        schema["additionalProperties"] = _json_schema(schema["additionalProperties"])
    for key in ("allOf", "anyOf", "oneOf"):
        if key in schema:
            schema[key] = [_json_schema(child) for child in schema[key]]
    if schema.get("x-kubernetes-int-or-string"):
        schema.pop("type", None)
        schema.setdefault("anyOf", [{"type": "integer"}, {"type": "string"}])
    if schema.get("x-kubernetes-embedded-resource"):
        schema["required"] = sorted({*schema.get("required", []), "apiVersion", "kind"})
    if schema.pop("nullable", False) and "type" in schema:
        schema["type"] = [schema["type"], "null"]
        if "enum" in schema:
            schema["enum"] = [*schema["enum"], None]
    return schema


# ---------------------------------------------------------------- findings


def _where(path: Iterable) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(root)"


def _name(obj: dict) -> str:
    metadata = obj.get("metadata") or {}
    return f"{obj.get('kind', '?')}/{metadata.get('name') or metadata.get('generateName') or '?'}"


def _schema_errors(obj: dict) -> Iterator[str]:
    for error in sorted(_validator(obj["apiVersion"], obj["kind"]).iter_errors(obj), key=lambda e: list(e.path)):
        yield f"{_where(error.absolute_path)}: {error.message}"


def _pruned(value, schema: dict, path: FieldPath) -> Iterator[FieldPath]:
    """Paths of fields the API server would drop: not in the schema, and unknown fields not preserved."""
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        for index, item in enumerate(value):
            yield from _pruned(item, schema["items"], (*path, index))
    if not isinstance(value, dict) or schema.get("type") != "object":
        return
    properties = schema.get("properties") or {}
    extra = schema.get("additionalProperties")
    keeps_unknown = schema.get("x-kubernetes-preserve-unknown-fields") or extra is True
    embedded = schema.get("x-kubernetes-embedded-resource")
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


def _prune_errors(obj: dict, schema: dict) -> Iterator[str]:
    paths = list(_unknown_metadata(obj.get("metadata"), ("metadata",)))
    body = {key: value for key, value in obj.items() if key not in OBJECT_ROOT}
    paths += _pruned(body, schema, ())
    for path in paths:
        yield f"{_where(path)}: not in the schema, the API server would prune it"


def _floats(value, path: FieldPath = ()) -> Iterator[str]:
    if isinstance(value, float):
        yield f"{_where(path)}: {value!r} is a float; Kubernetes wants an integer here"
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _floats(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _floats(item, (*path, index))


def _core_errors(obj: dict) -> list[str] | None:
    """kubernetes-validate's verdict (its first error), or None when it has no schema for the kind."""
    try:
        kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
    except kubernetes_validate.SchemaNotFoundError:
        return None
    except kubernetes_validate.ValidationError as error:
        return [f"{_where(error.absolute_path)}: {error.message}", *_floats(obj)]
    return list(_floats(obj))


# ---------------------------------------------------------------- operator webhooks


def _replica_rules(
    specs_key: str, container: str, roles: tuple[str, ...], single: tuple[str, ...] = (), required: tuple[str, ...] = ()
) -> Callable[[dict], Iterator[str]]:
    """The training operator's replica checks: DNS-1035 name, known roles, a main container with an image,
    roles that run exactly one replica, roles that must exist."""

    def check(obj: dict) -> Iterator[str]:
        name = (obj.get("metadata") or {}).get("name", "")
        if not DNS_1035.match(name):
            yield f"metadata.name: {name!r} is not a DNS-1035 label (training operator)"
        specs = (obj.get("spec") or {}).get(specs_key) or {}
        for role, spec in specs.items():
            spec = spec or {}
            where = f"spec.{specs_key}.{role}"
            if role not in roles:
                yield f"{where}: unsupported replica type {role!r}; supported: {', '.join(roles)}"
            containers = ((spec.get("template") or {}).get("spec") or {}).get("containers") or []
            if not any(each.get("name") == container for each in containers):
                yield f"{where}.template.spec.containers: needs a container named {container!r}"
            for index, each in enumerate(containers):
                if not each.get("image"):
                    yield f"{where}.template.spec.containers[{index}].image: required"
            if role in single and spec.get("replicas") != 1:
                yield f"{where}.replicas: must be 1"
        for role in required:
            if role not in specs:
                yield f"spec.{specs_key}.{role}: required"
        if specs_key == "tfReplicaSpecs" and sum(role in ("Chief", "Master") for role in specs) > 1:
            yield "spec.tfReplicaSpecs: must not have more than 1 Chief or Master role"

    return check


# Seldon Core v1's prepackaged servers and which can take protocol tensorflow (only TensorFlow Serving).
SELDON_PREPACKAGED = (
    "SKLEARN_SERVER",
    "XGBOOST_SERVER",
    "TENSORFLOW_SERVER",
    "MLFLOW_SERVER",
    "TRITON_SERVER",
    "HUGGINGFACE_SERVER",
    "TEMPO_SERVER",
)
SELDON_NOT_TENSORFLOW = ("SKLEARN_SERVER", "XGBOOST_SERVER", "MLFLOW_SERVER", "HUGGINGFACE_SERVER")


def _seldon_rules(obj: dict) -> Iterator[str]:
    """Seldon Core v1's validating webhook (ValidateSeldonDeployment), minus Kafka and explainers."""
    spec = obj.get("spec") or {}
    protocol = spec.get("protocol")
    if protocol not in (None, "", "seldon", "tensorflow", "kfserving", "v2"):
        yield f"spec.protocol: invalid protocol {protocol!r} (seldon, tensorflow, kfserving, v2)"
    if spec.get("transport") not in (None, "", "rest", "grpc"):
        yield f"spec.transport: invalid transport {spec['transport']!r} (rest, grpc)"
    predictors = spec.get("predictors") or []
    if not predictors:
        yield "spec.predictors: no predictors"
    shadows = [p for p in predictors if p.get("shadow")]
    live = [p for p in predictors if not p.get("shadow")]
    if len(shadows) > 1:
        yield "spec.predictors: multiple shadows are not allowed"
    if len(predictors) == 1 and shadows:
        yield "spec.predictors[0]: a shadow cannot be the only predictor"
    total = sum(p.get("traffic", 0) for p in live)
    if len(live) > 1 and total != 100:
        yield f"spec.predictors: traffic must sum to 100 for multiple predictors, got {total}"
    if len(predictors) == 1 and 0 < total < 100:
        yield f"spec.predictors[0].traffic: a single predictor's traffic must be 100 when set, got {total}"
    seen = set()
    for index, predictor in enumerate(predictors):
        name = predictor.get("name")
        if name in seen:
            yield f"spec.predictors[{index}].name: duplicate predictor name {name!r}"
        seen.add(name)
        if predictor.get("shadow") and not 0 <= predictor.get("traffic", 0) <= 100:
            yield f"spec.predictors[{index}].traffic: shadow traffic must be within 0..100"
        yield from _seldon_graph(predictor, predictor.get("graph") or {}, protocol, f"spec.predictors[{index}].graph")


def _seldon_graph(predictor: dict, unit: dict, protocol, where: str) -> Iterator[str]:
    implementation = unit.get("implementation")
    containers = [
        container.get("name")
        for component in predictor.get("componentSpecs") or []
        for container in ((component or {}).get("spec") or {}).get("containers") or []
    ]
    if implementation in (None, "UNKNOWN_IMPLEMENTATION"):
        if unit.get("name") not in containers:
            yield f"{where}: no componentSpecs container named {unit.get('name')!r} for this graph node"
    elif implementation in SELDON_PREPACKAGED:
        if not unit.get("modelUri") and implementation != "HUGGINGFACE_SERVER":
            yield f"{where}.modelUri: required by the prepackaged server {implementation}"
        if protocol == "tensorflow" and implementation in SELDON_NOT_TENSORFLOW:
            yield f"{where}.implementation: {implementation} does not handle protocol tensorflow"
    for index, child in enumerate(unit.get("children") or []):
        yield from _seldon_graph(predictor, child, protocol, f"{where}.children[{index}]")


WEBHOOK_RULES: dict[tuple[str, str], Callable[[dict], Iterable[str]]] = {
    ("kubeflow.org/v1", "TFJob"): _replica_rules(
        "tfReplicaSpecs", "tensorflow", ("PS", "Chief", "Master", "Worker", "Evaluator")
    ),
    ("kubeflow.org/v1", "PyTorchJob"): _replica_rules(
        "pytorchReplicaSpecs", "pytorch", ("Master", "Worker"), ("Master",)
    ),
    ("kubeflow.org/v1", "XGBoostJob"): _replica_rules(
        "xgbReplicaSpecs", "xgboost", ("Master", "Worker"), ("Master",), ("Master",)
    ),
    # MPIJob v1 has no webhook; its controller needs exactly one Launcher.
    ("kubeflow.org/v1", "MPIJob"): _replica_rules(
        "mpiReplicaSpecs", "mpi", ("Launcher", "Worker"), ("Launcher",), ("Launcher",)
    ),
    ("machinelearning.seldon.io/v1", "SeldonDeployment"): _seldon_rules,
}


# ---------------------------------------------------------------- API


def validate(obj: dict, strict: bool = False) -> list[str]:
    """Problems the API server or an operator webhook would have with `obj`, each naming kind/name and field."""
    api_version, kind = obj.get("apiVersion"), obj.get("kind")
    if not api_version or not kind:
        return [f"{_name(obj)}: apiVersion and kind are required"]
    schema = _crd_schema(api_version, kind)
    if schema is not None:
        problems = [*_schema_errors(obj), *_prune_errors(obj, schema)]
    else:
        problems = _core_errors(obj)
        if problems is None:
            return [f"{_name(obj)}: no schema for {api_version} {kind}"] if strict else []
    if not problems:  # the API server calls validating webhooks only for objects that pass the schema
        problems = list(WEBHOOK_RULES.get((api_version, kind), lambda _: ())(obj))
    return [f"{_name(obj)}: {problem}" for problem in problems]


def validate_all(objs: Iterable[dict], strict: bool = False) -> dict[str, list[str]]:
    """`validate` for many objects: `kind/name` -> problems, only for objects that have any."""
    found: dict[str, list[str]] = {}
    for obj in objs:
        problems = validate(obj, strict)
        if problems:
            found.setdefault(f"{_name(obj)}", []).extend(problems)
    return found
