"""`mlp images` and the image mirror: every image the plans pull comes through `operators.imageRegistry`.

The upstream facts (each pinned chart's image keys and default images) are recorded in `mlplatform/images`; these
tests hold them against the pins and the plans, and hold the plans to the bar: with a mirror set, no image a
release, hook, kustomize overlay or rendered object pulls names Docker Hub (spelt out or implied), ghcr.io,
quay.io or registry.k8s.io.
"""

import json
import re
import shutil
from pathlib import Path

import pytest

from mlplatform import config as cfg
from mlplatform import images, pins
from mlplatform.cli import main
from mlplatform.cli.images import Listing, listing
from mlplatform.conventions import mirrored
from mlplatform.infra import karpenter
from mlplatform.offline import stackfiles
from mlplatform.offline.preview import run_preview

ROOT = Path(__file__).resolve().parents[2]
MIRROR = "ml-platform-registry-vpc.cn-hangzhou.cr.aliyuncs.com/mirror"
STACKS = ("dev", "prod", "dev-aws", "prod-aws")
# Where an image comes from unless the mirror takes it: the registries the bar names, or none (Docker Hub implied).
FORBIDDEN = re.compile(r"^(docker\.io|index\.docker\.io|ghcr\.io|quay\.io|registry\.k8s\.io)/")
# Values keys that hold an image, a repository or a registry in the pinned charts.
IMAGE_KEYS = re.compile(r"(^|[a-z])([Ii]mage(_v2)?|[Rr]epository|[Rr]egistry|hub|defaultJobImage)$")


def _settings(project: Path, stack: str) -> cfg.StackConfig:
    return cfg.parse(stackfiles.load(project, stack).namespace_values())


@pytest.fixture(scope="module")
def mirrored_aws(tmp_path_factory):
    """dev-aws (Karpenter, the NVIDIA plugin) planned with the mirror set."""
    project = tmp_path_factory.mktemp("project")
    for name in ("Pulumi.yaml", "Pulumi.dev-aws.yaml", "__main__.py"):
        shutil.copy(ROOT / name, project / name)
    for folder in ("stacks", "policies"):
        shutil.copytree(ROOT / folder, project / folder, ignore=shutil.ignore_patterns("__pycache__", "venv", "tests"))
    stack_file = project / "Pulumi.dev-aws.yaml"
    text = stack_file.read_text().replace(
        "config:\n", f"config:\n  ml-platform:operators:\n    imageRegistry: {MIRROR}\n", 1
    )
    stack_file.write_text(text)
    return run_preview("dev-aws", project), _settings(project, "dev-aws")


@pytest.fixture(params=["dev", "prod", "dev-aws"])
def with_mirror(request, shipped, mirrored_aws):
    if request.param == "dev-aws":
        return mirrored_aws
    return shipped(request.param), _settings(ROOT, request.param)


def outside_the_mirror(result, registry: str) -> list[str]:
    """Every image reference of a plan that does not come through `registry`: the image keys of each release's
    values (whatever the recorded data says), what each release's recorded images render to, each overlay's
    images as the transform rewrites them, and every image a rendered object names."""
    prefix = registry + "/"
    found = []
    for package in result.packages:
        for key, value in _strings(package.get("values") or {}):
            if IMAGE_KEYS.search(key.rsplit(".", 1)[-1]) and not value.startswith(registry):
                found.append(f"{package['resource']} {key}: {value}")
    checked = Listing(registry, ())
    for package in result.packages:
        checked.add_package(package)
    for manifest in result.manifests:
        checked.add_manifest(manifest)
    found += [f"pulled: {image}" for image in checked.unmirrored()]
    found += [
        f"pulled: {image}" for image, _ in checked.pulled if not image.startswith(prefix) or FORBIDDEN.match(image)
    ]
    return sorted(set(found))


def _strings(value, path=""):
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _strings(item, f"{path}.{key}" if path else key)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item, path)
    elif isinstance(value, str):
        yield path, value


# ---------------------------------------------------------------- the recorded upstream facts


def test_the_recorded_charts_are_the_pinned_versions():
    recorded = {name: chart.version for name, chart in images.CHARTS.items()}
    assert recorded["seldon-core-operator"] == pins.SELDON.version
    assert recorded["emissary-crds-chart"] == pins.EMISSARY_CRDS.version
    assert recorded["emissary-ingress"] == pins.EMISSARY.version
    assert recorded["base"] == recorded["istiod"] == recorded["gateway"] == pins.ISTIO.version
    assert recorded["nvidia-device-plugin"] == pins.NVIDIA_DEVICE_PLUGIN.version
    assert {recorded[name] for name in recorded if name.startswith("kserve-")} == {pins.KSERVE.version}
    assert recorded["cert-manager"] == pins.CERT_MANAGER.version
    assert recorded["kubeflow-trainer"] == pins.TRAINER.version
    assert recorded["keda"] == pins.KEDA.version
    assert recorded["prometheus"] == pins.KEDA_PROMETHEUS.version
    assert recorded["karpenter"] == recorded["karpenter-crd"] == karpenter.VERSION
    defaults = cfg.Operators()
    assert images.TRAINING_OPERATOR.version == defaults.training_operator.version
    assert images.NOTEBOOK_CONTROLLER.version == defaults.notebook_controller_version


@pytest.mark.parametrize("chart", images.CHARTS.values(), ids=lambda chart: chart.name)
def test_each_image_key_moves_its_image_to_the_mirror(chart):
    for entry in chart.images:
        assert entry.image.startswith(entry.held), entry
        rest = entry.image[len(entry.held) :]
        assert images.mirrored_value(entry, MIRROR) + rest == mirrored(entry.image, MIRROR), entry
        assert images.value_at(images.mirror_values(chart, MIRROR), entry.key) == images.mirrored_value(entry, MIRROR)
    assert images.mirror_values(chart, None) == {}


@pytest.mark.parametrize("stack", STACKS)
def test_every_chart_overlay_and_manifest_file_a_shipped_stack_applies_is_recorded(shipped, stack):
    result = shipped(stack)
    found = listing(result, _settings(ROOT, stack))
    assert found.warnings == []
    charts = [images.chart_of(p["chart"]) for p in result.packages if p["type"].endswith(":Release")]
    assert None not in charts and charts


def test_the_trainer_chart_renders_no_runtimes_installer(shipped):
    """The installer hook's `apk add kubectl` needs the Alpine CDN, which a mirror cannot serve: never rendered."""
    [trainer] = [p for p in shipped("dev").packages if p.get("name") == "kubeflow-trainer"]
    [installer] = [e for e in images.TRAINER.images if e.key == "runtimes.installer.image.registry"]
    assert not any(images.value_at(trainer["values"], key) for key in installer.when)
    assert all(image != "docker.io/alpine:3.21" for _, image in images.chart_images(images.TRAINER, trainer["values"]))


# ---------------------------------------------------------------- the bar


def test_with_a_mirror_no_image_of_the_plan_comes_from_elsewhere(with_mirror):
    result, settings = with_mirror
    registry = settings.operators.image_registry
    assert registry == MIRROR
    assert outside_the_mirror(result, registry) == []
    # Every chart's image keys are set to the mirror, whichever the chart renders.
    for package in result.packages:
        chart = images.chart_of(str(package.get("chart", "")))
        for entry in chart.images if chart else ():
            assert images.value_at(package["values"], entry.key) == images.mirrored_value(entry, registry), entry


def test_mlp_images_lists_every_image_a_manifest_names(with_mirror):
    result, settings = with_mirror
    found = listing(result, settings)
    pulled = {image for image, _ in found.pulled}
    named = {image for manifest in result.manifests for image in images.image_references(manifest)}
    assert named and named <= pulled
    assert found.unmirrored() == [] and found.warnings == []
    # Each line names the image it mirrors: the platform's and the config's sources, never the mirror itself.
    assert all(not source.startswith(MIRROR) for _, source in found.pulled)


def test_a_chart_image_key_left_unmirrored_fails_the_bar(shipped):
    result = shipped("prod")
    [keda] = [p for p in result.packages if p.get("name") == "keda"]
    assert keda["values"]["global"]["image"]["registry"] == MIRROR
    left = {**keda, "values": {key: value for key, value in keda["values"].items() if key != "global"}}

    class Unmirrored:
        packages = [left if p is keda else p for p in result.packages]
        manifests = result.manifests

    assert outside_the_mirror(Unmirrored, MIRROR) == sorted(
        f"pulled: ghcr.io/kedacore/{name}:2.20.2"
        for name in ("keda", "keda-admission-webhooks", "keda-metrics-apiserver")
    )


def test_an_implicit_docker_hub_image_in_a_manifest_fails_the_bar(shipped):
    result = shipped("dev")
    notebook = next(m for m in result.manifests if m["kind"] == "Notebook")
    original = next(iter(images.image_references(notebook)))
    container = notebook["spec"]["template"]["spec"]["containers"][0]
    broken = {
        **notebook,
        "spec": {"template": {"spec": {"containers": [{**container, "image": "kubeflownotebookswg/jupyter:v1.9.2"}]}}},
    }

    class Implicit:
        packages = []
        manifests = [broken]

    assert original.startswith(MIRROR)
    assert outside_the_mirror(Implicit, MIRROR) == ["pulled: kubeflownotebookswg/jupyter:v1.9.2"]


# ---------------------------------------------------------------- the command


def test_mlp_images_json_lists_each_image_with_its_source(capsys):
    assert main(["-C", str(ROOT), "images", "-s", "dev", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert listed["registry"] == MIRROR and listed["unmirrored"] == [] and listed["warnings"] == []
    by_image = {item["image"]: item for item in listed["images"]}
    controller = by_image[f"{MIRROR}/kubeflow/trainer/trainer-controller-manager:v2.3.0"]
    assert controller["source"] == "ghcr.io/kubeflow/trainer/trainer-controller-manager:v2.3.0"
    assert by_image[f"{MIRROR}/jobset/jobset:v0.12.0"]["source"] == "registry.k8s.io/jobset/jobset:v0.12.0"
    assert by_image[f"{MIRROR}/library/alpine:3.10"]["source"] == "alpine:3.10"  # the training-operator's init
    assert by_image[f"{MIRROR}/pytorch/pytorch:2.13.0-cuda13.0-cudnn9-runtime"]["from"] == [
        "ClusterTrainingRuntime torch-distributed"
    ]


def test_mlp_images_text_and_skopeo(capsys):
    assert main(["-C", str(ROOT), "--color", "never", "images", "-s", "prod"]) == 0
    text = capsys.readouterr().out
    assert f"{MIRROR}/jetstack/cert-manager-startupapicheck:v1.21.1" in text
    assert "<- quay.io/jetstack/cert-manager-startupapicheck:v1.21.1" in text
    assert main(["-C", str(ROOT), "images", "-s", "prod", "--skopeo"]) == 0
    commands = capsys.readouterr().out.splitlines()
    assert f"skopeo copy --all docker://ghcr.io/kedacore/keda:2.20.2 docker://{MIRROR}/kedacore/keda:2.20.2" in commands


def test_without_a_mirror_images_are_listed_as_pulled(capsys):
    assert main(["-C", str(ROOT), "images", "-s", "dev-aws", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert listed["registry"] is None
    assert {
        "image": "public.ecr.aws/karpenter/controller:1.14.1",
        "source": "public.ecr.aws/karpenter/controller:1.14.1",
    } in [{k: item[k] for k in ("image", "source")} for item in listed["images"]]


def test_an_llms_own_server_image_comes_through_the_mirror():
    from stacks.workloads import through_mirror

    raw = stackfiles.load(ROOT, "prod").namespace_values()
    raw["servings"]["assistant"]["llm"]["image"] = "kserve/huggingfaceserver:v0.20.0-gpu"
    settings = through_mirror(cfg.parse(raw))
    assert settings.servings["assistant"].llm.image == f"{MIRROR}/kserve/huggingfaceserver:v0.20.0-gpu"
