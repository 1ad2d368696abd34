"""The offline preview: the unchanged Pulumi program, run under the SDK's mock runtime.

It plans what `pulumi up` would create for a stack, with the config of `Pulumi.yaml` and
`Pulumi.<stack>.yaml`, and writes it down:
- `stack.json`: the plan in `pulumi stack export` deployment format (version 3);
- `manifests/`: every Kubernetes object exactly as it would be applied, as YAML;
- `releases.yaml`: the Helm releases and kustomize/manifest installs, which need their chart or
  repository to render and are therefore listed as they are asked for;
- `policy.json`: the policy pack's verdicts.
Secret values are never written: they appear as `[secret]`. Before anything is written, every
Kubernetes object is validated (`mlplatform.validation`): an object the API server or an operator's
webhook would refuse is a `validation.InvalidObjects` error, exit code 2.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import heapq
import importlib.metadata
import runpy
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import orjson
import pulumi
import yaml

from mlplatform import validation
from mlplatform.config import read
from mlplatform.conventions import SECRET_TEXT
from mlplatform.offline import engine as offline
from mlplatform.offline import stackfiles
from mlplatform.validation.background import BackgroundCheck

# PyYAML's libyaml emitter when the wheel has it (6.0.3's do): same YAML, several times faster.
YAML_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
# Cyclic GC during a plan: the SDK allocates many short-lived container objects per resource, and the
# default gen0 threshold (700) makes the collector rescan the growing heap thousands of times.
PLAN_GC_THRESHOLD = (50_000, 20, 20)
_gc_depth = 0

# Installs that a provider renders from a chart or repository at apply time.
PACKAGE_TYPES = ("kubernetes:helm.sh/v3:Release", "kubernetes:kustomize/v2:Directory", "kubernetes:yaml/v2:ConfigFile")


@dataclass
class PreviewResult:
    stack: str
    project: str
    resources: list[dict]  # deployment-v3 resource records, in registration order
    outputs: dict
    manifests: list[dict] = field(default_factory=list)
    packages: list[dict] = field(default_factory=list)
    validation: validation.Validation | None = None
    seconds: float = 0.0

    def deployment(self) -> dict:
        return {
            "version": 3,
            "deployment": {
                "manifest": {
                    "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                    "magic": "",
                    "version": f"v{importlib.metadata.version('pulumi')}",
                },
                "secrets_providers": {"type": "offline"},
                "resources": self.resources,
            },
        }


def _replacing_secrets(value, replace):
    """`value` with every secret replaced by `replace(secret)`; parts without a secret are shared, not copied
    (a plan of thousands of resources would otherwise be held twice more). Nothing here mutates them."""
    if isinstance(value, dict):
        if value.get(offline.SIG_KEY) == offline.SECRET_SIG:
            return replace(value)
        result = None
        for key, item in value.items():
            new = _replacing_secrets(item, replace)
            if new is not item and result is None:
                result = dict(value)
            if result is not None:
                result[key] = new
        return value if result is None else result
    if isinstance(value, list):
        items = [_replacing_secrets(item, replace) for item in value]
        return value if all(new is old for new, old in zip(items, value, strict=True)) else items
    return value


def _concealed(secret: dict):
    inner = secret.get("value")
    return {key: SECRET_TEXT for key in inner} if isinstance(inner, dict) else SECRET_TEXT


def conceal(value):
    """Replace secret values with `[secret]` (a secret mapping keeps its keys): nothing written holds one."""
    return _replacing_secrets(value, _concealed)


def export_secrets(value):
    """Secrets as `pulumi stack export` writes them: the secret signature with a ciphertext, never the value."""
    return _replacing_secrets(value, lambda _: {offline.SIG_KEY: offline.SECRET_SIG, "ciphertext": SECRET_TEXT})


@functools.cache  # asked for every resource the default provider serves; reading package metadata is slow
def _package_version(package: str) -> str:
    try:
        return importlib.metadata.version(f"pulumi_{package}")
    except importlib.metadata.PackageNotFoundError:
        return "0.0.0"


def uses_default_provider(registration: offline.Registration) -> bool:
    """A provider resource without an explicit provider: the engine gives it its package's default one."""
    return registration.custom and not registration.provider and registration.type.split(":")[0] != "pulumi"


def default_provider(stack: str, project: str, package: str) -> dict:
    """The record of the default provider the engine creates for `package` (`default_4_37_1`)."""
    version = _package_version(package)
    name = f"default_{version.replace('.', '_')}"
    return {
        "urn": f"urn:pulumi:{stack}::{project}::pulumi:providers:{package}::{name}",
        "custom": True,
        "id": f"{name}-id",
        "type": f"pulumi:providers:{package}",
        "inputs": {"version": version},
        "outputs": {"version": version},
    }


def _records(monitor: offline.RecordingMonitor, project: str, stack: str) -> list[dict]:
    """Deployment-v3 resources; resources without an explicit provider get the engine's default provider."""
    records: list[dict] = []
    defaults: dict[str, str] = {}
    stack_urn = f"urn:pulumi:{stack}::{project}::pulumi:pulumi:Stack::{project}-{stack}"
    for registration in monitor.registrations.values():
        provider = registration.provider
        package = registration.type.split(":")[0]
        if uses_default_provider(registration):
            if package not in defaults:
                default = default_provider(stack, project, package)
                defaults[package] = f"{default['urn']}::{default['id']}"
                records.append(default)
            provider = defaults[package]
        record = {
            "urn": registration.urn,
            "custom": registration.custom,
            "type": registration.type,
            "inputs": export_secrets(registration.inputs),
        }
        # The mock echoes most inputs as outputs (the recorder then holds one dict for both): export it once.
        same = registration.outputs is registration.inputs
        record["outputs"] = record["inputs"] if same else export_secrets(registration.outputs)
        if registration.custom and registration.id:
            record["id"] = registration.id
        if registration.parent:
            record["parent"] = registration.parent
        elif registration.type != "pulumi:pulumi:Stack":
            record["parent"] = stack_urn
        if registration.protect:
            record["protect"] = True
        if registration.retain_on_delete:
            record["retainOnDelete"] = True
        # What `mlp diff` needs to tell a replacement's order: `replaceOnChanges` is a field of the state
        # (apitype.ResourceV3); `deleteBeforeReplace` is not, the offline plan keeps the program's option.
        if registration.replace_on_changes:
            record["replaceOnChanges"] = registration.replace_on_changes
        if registration.delete_before_replace:
            record["deleteBeforeReplace"] = True
        if registration.aliases:  # a field of the state too (apitype.ResourceV3 `aliases`)
            record["aliases"] = sorted(registration.aliases)
        if registration.external:
            record["external"] = True
        # The SDK gathers dependencies in sets, so their order varies from run to run: sorted, they diff cleanly.
        if registration.dependencies:
            record["dependencies"] = sorted(registration.dependencies)
        deps = {key: sorted(urns) for key, urns in registration.property_dependencies.items() if urns}
        if deps:
            record["propertyDependencies"] = deps
        if provider:
            record["provider"] = provider
        records.append(record)
    return _in_dependency_order(records)


def _in_dependency_order(records: list[dict]) -> list[dict]:
    """A stable order (by URN) in which every resource follows its parent, provider and dependencies.

    The mock engine registers from several threads, so registration order varies from run to run;
    a plan that is written in the same order every time diffs cleanly.
    """
    by_urn = {record["urn"]: record for record in records}

    def prerequisites(record: dict) -> set[str]:
        needed = {record.get("parent", ""), record.get("provider", "").rsplit("::", 1)[0]}
        needed.update(record.get("dependencies", []))
        for urns in record.get("propertyDependencies", {}).values():
            needed.update(urns)
        return {urn for urn in needed if urn in by_urn and urn != record["urn"]}

    waiting = {urn: prerequisites(record) for urn, record in by_urn.items()}
    dependents: dict[str, list[str]] = {}
    for urn, needed in waiting.items():
        for prerequisite in needed:
            dependents.setdefault(prerequisite, []).append(urn)

    def key(urn: str) -> tuple[bool, str]:  # the Stack first, as `pulumi stack export` writes it
        return by_urn[urn]["type"] != "pulumi:pulumi:Stack", urn

    ready = [key(urn) for urn, needed in waiting.items() if not needed]
    heapq.heapify(ready)
    ordered = []
    while ready:
        _, urn = heapq.heappop(ready)
        ordered.append(by_urn[urn])
        for dependent in dependents.get(urn, []):
            waiting[dependent].discard(urn)
            if not waiting[dependent]:
                heapq.heappush(ready, key(dependent))
    if len(ordered) != len(records):
        raise RuntimeError("the plan has a dependency cycle, which the Pulumi engine would refuse")
    return ordered


def _manifest(registration: offline.Registration) -> dict:
    """A Kubernetes object as applied: apiVersion, kind, metadata first."""
    inputs = conceal(registration.inputs)
    head = {key: inputs[key] for key in ("apiVersion", "kind", "metadata") if key in inputs}
    return {**head, **{key: value for key, value in inputs.items() if key not in head}}


def _referenced_outputs(files: stackfiles.StackFiles, project_dir: Path) -> dict[str, dict]:
    """Outputs of the stacks this one references, planned offline from their own config."""
    # The config as far as it reads: the program reports its other problems with those of prod's rules.
    promotion = read(files.namespace_values(), files.source()).usable().promotion
    if promotion is None or promotion.project != files.project:
        return {}
    # Only its outputs are read: the referenced stack is planned, not validated or written.
    monitor = _plan(stackfiles.load(project_dir, promotion.stack), project_dir)
    name = f"{promotion.organization}/{promotion.project}/{promotion.stack}"
    return {name: _stack_registration(monitor).outputs}


def _stack_registration(monitor: offline.RecordingMonitor) -> offline.Registration:
    return next(r for r in monitor.registrations.values() if r.type == "pulumi:pulumi:Stack")


@contextlib.contextmanager
def _gc_tuned():
    """For the plan: objects alive now (the imported modules) frozen out of collections, a higher gen0
    threshold; both restored afterwards (the outermost plan, when a plan runs the plan it references)."""
    global _gc_depth
    _gc_depth += 1
    if _gc_depth > 1:
        try:
            yield
        finally:
            _gc_depth -= 1
        return
    threshold = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(*PLAN_GC_THRESHOLD)
    try:
        yield
    finally:
        gc.set_threshold(*threshold)
        gc.unfreeze()
        _gc_depth -= 1


@contextlib.contextmanager
def _program_path(project_dir: Path):
    """Import the project's `stacks` package from `project_dir`, as the Pulumi CLI would."""
    sys.path.insert(0, str(project_dir))
    try:
        yield
    finally:
        sys.path.remove(str(project_dir))
        for module in [m for m in sys.modules if m == "stacks" or m.startswith("stacks.")]:
            del sys.modules[module]


class PlanWatcher(Protocol):
    """Told of each registration as the program makes it, and of the finished plan's records before they are
    validated (the policy pack's analysis streams from it)."""

    def registered(self, registration: offline.Registration, request, response) -> None: ...

    def planned(self, records: list[dict]) -> None: ...


def run_preview(stack: str, project_dir: Path | None = None, watcher: PlanWatcher | None = None) -> PreviewResult:
    """Plan `stack` offline. Raises ConfigError or UsageError for a bad stack or config."""
    with _gc_tuned():
        return _run_preview(stack, (project_dir or Path.cwd()).resolve(), watcher)


def _plan(
    files: stackfiles.StackFiles, project_dir: Path, watcher: PlanWatcher | None = None
) -> offline.RecordingMonitor:
    """Run the program for a stack under the recording mock engine (after the stacks it references)."""
    references = _referenced_outputs(files, project_dir)
    program = project_dir / "__main__.py"
    if not program.is_file():
        raise stackfiles.UsageError(f"{program}: no Pulumi program")
    pulumi.runtime.set_all_config(files.config, files.secret_keys)
    monitor = offline.start(files.project, files.stack, references, watcher.registered if watcher else None)
    with _program_path(project_dir):
        offline.run_program(lambda: runpy.run_path(str(program), run_name="__main__"))
    return monitor


class _Validating:
    """Watches the plan: each Kubernetes object goes to the background validation as it is registered; the
    caller's watcher (the policy pack's analysis), if any, is told everything too."""

    def __init__(self, check: BackgroundCheck, watcher: PlanWatcher | None):
        self.check, self.watcher = check, watcher
        self.manifests: dict[str, dict] = {}  # by URN

    def registered(self, registration: offline.Registration, request, response) -> None:
        kind = registration.type
        if registration.custom and kind.startswith("kubernetes:") and kind not in PACKAGE_TYPES:
            self.manifests[registration.urn] = manifest = _manifest(registration)
            self.check.add(manifest)
        if self.watcher is not None:
            self.watcher.registered(registration, request, response)

    def planned(self, records: list[dict]) -> None:
        if self.watcher is not None:
            self.watcher.planned(records)


def _run_preview(stack: str, project_dir: Path, watcher: PlanWatcher | None = None) -> PreviewResult:
    started = time.perf_counter()
    files = stackfiles.load(project_dir, stack)
    with BackgroundCheck(_kubernetes_minor(files)) as check:
        validating = _Validating(check, watcher)
        monitor = _plan(files, project_dir, validating)
        records = _records(monitor, files.project, stack)
        validating.planned(records)
        checked = check.result()
    # In the plan's stable order (registration order varies with the SDK's threads).
    planned = [monitor.registrations[r["urn"]] for r in records if r["urn"] in monitor.registrations]
    planned = [r for r in planned if not r.external]
    kubernetes = [r for r in planned if r.type.startswith("kubernetes:")]
    manifests = [validating.manifests[r.urn] for r in kubernetes if r.urn in validating.manifests]
    if checked.problems:
        raise validation.InvalidObjects(checked.problems)
    return PreviewResult(
        stack=stack,
        project=files.project,
        resources=records,
        outputs=_stack_registration(monitor).outputs,
        manifests=manifests,
        packages=[
            {"resource": r.name, "type": r.type, **conceal(r.inputs)} for r in kubernetes if r.type in PACKAGE_TYPES
        ],
        validation=checked,
        seconds=time.perf_counter() - started,
    )


def _kubernetes_minor(files: stackfiles.StackFiles) -> str:
    """The cluster's Kubernetes minor version ('1.31' of '1.31.1-aliyun.1'), as validated config gives it."""
    version = str(files.namespace_values()["cluster"]["kubernetesVersion"])
    return ".".join(version.split("-")[0].split(".")[:2])


# ---------------------------------------------------------------- output


# orjson writes what json.dumps(indent=2) writes (but UTF-8 unescaped), a hundred times faster.
JSON_OPTIONS = orjson.OPT_INDENT_2
RESOURCES_INDENT = b"\n      "  # a resource record's lines inside {"deployment": {"resources": [...]}}


def _write_deployment(result: PreviewResult, path: Path) -> None:
    """stack.json, one resource record at a time (the whole plan as one JSON text would be tens of MiB more at
    the preview's peak): the same bytes as `orjson.dumps(result.deployment(), JSON_OPTIONS)` and a newline. JSON
    text has no newline inside a string, so a record's lines are indented by replacing its newlines."""
    document = result.deployment()
    resources = document["deployment"]["resources"]
    document["deployment"]["resources"] = []
    head, _, tail = orjson.dumps(document, option=JSON_OPTIONS).partition(b'"resources": []')
    with path.open("wb") as file:
        file.write(head + b'"resources": [')
        for index, resource in enumerate(resources):
            file.write(b"," if index else b"")
            file.write(RESOURCES_INDENT + orjson.dumps(resource, option=JSON_OPTIONS).replace(b"\n", RESOURCES_INDENT))
        file.write((b"\n    ]" if resources else b"]") + tail + b"\n")


def write(result: PreviewResult, out_dir: Path) -> Path:
    """Write stack.json, manifests/ and releases.yaml under out_dir/<stack>/; returns that folder."""
    folder = out_dir / result.stack
    manifests = folder / "manifests"
    if manifests.exists():
        for old in manifests.rglob("*.yaml"):
            old.unlink()
    manifests.mkdir(parents=True, exist_ok=True)
    _write_deployment(result, folder / "stack.json")
    for index, manifest in enumerate(result.manifests):
        metadata = manifest.get("metadata", {})
        scope = metadata.get("namespace") or "_cluster"
        path = manifests / scope / f"{manifest['kind'].lower()}-{metadata.get('name', index)}.yaml"
        path.parent.mkdir(exist_ok=True)
        path.write_text(yaml.dump(manifest, Dumper=YAML_DUMPER, sort_keys=False))
    (folder / "releases.yaml").write_text(yaml.dump_all(result.packages, Dumper=YAML_DUMPER, sort_keys=False))
    return folder
