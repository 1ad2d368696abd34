import copy

import pytest

from mlplatform import validation as conformance


def seldon_deployment(**spec) -> dict:
    predictor = {
        "name": "v1",
        "traffic": 100,
        "graph": {"name": "color", "implementation": "TENSORFLOW_SERVER", "modelUri": "pvc://color-model/v1"},
        "componentSpecs": [{"spec": {"containers": [{"name": "color", "resources": {"requests": {"cpu": "1"}}}]}}],
    }
    return {
        "apiVersion": "machinelearning.seldon.io/v1",
        "kind": "SeldonDeployment",
        "metadata": {"name": "color", "namespace": "models"},
        "spec": {"protocol": "tensorflow", "predictors": [predictor], **spec},
    }


def with_predictors(*changes: dict) -> dict:
    """A SeldonDeployment whose predictors are the base predictor updated by each of `changes`."""
    base = seldon_deployment()
    template = base["spec"]["predictors"][0]
    base["spec"]["predictors"] = [{**copy.deepcopy(template), **change} for change in changes]
    return base


def replica(container: str, replicas: int = 1, image: str = "train:v1") -> dict:
    return {"replicas": replicas, "template": {"spec": {"containers": [{"name": container, "image": image}]}}}


def training_job(kind: str, key: str, name: str = "color-training", **roles) -> dict:
    return {
        "apiVersion": "kubeflow.org/v1",
        "kind": kind,
        "metadata": {"name": name, "namespace": "training"},
        "spec": {key: roles},
    }


def test_a_valid_seldon_deployment_has_no_problems():
    assert conformance.validate(seldon_deployment()) == []


# ---------------------------------------------------------------- schema


def test_schema_error_names_the_object_and_field():
    obj = seldon_deployment()
    obj["spec"]["predictors"][0]["graph"]["children"] = "none"
    (problem,) = conformance.validate(obj)
    assert problem.startswith("SeldonDeployment/color: spec.predictors[0].graph.children:")
    assert "'array'" in problem


def test_a_required_field_is_missing():
    obj = seldon_deployment()
    del obj["spec"]["predictors"][0]["graph"]["name"]
    problems = conformance.validate(obj)
    assert any("spec.predictors[0].graph: 'name' is a required property" in p for p in problems)


def test_a_float_where_an_integer_is_required_fails():
    obj = seldon_deployment()
    obj["spec"]["predictors"][0]["traffic"] = 100.0
    assert conformance.validate(obj) == [
        "SeldonDeployment/color: spec.predictors[0].traffic: 100.0 is not of type 'integer'"
    ]


def test_int_or_string_takes_both_but_not_a_list():
    obj = seldon_deployment()
    resources = obj["spec"]["predictors"][0]["componentSpecs"][0]["spec"]["containers"][0]["resources"]
    resources["limits"] = {"cpu": 2, "memory": "2Gi"}
    assert conformance.validate(obj) == []
    resources["limits"] = {"cpu": ["2"]}
    (problem,) = conformance.validate(obj)
    assert "resources.limits.cpu" in problem


def test_nullable_field_takes_null():
    obj = seldon_deployment()
    obj["spec"]["predictors"][0]["componentSpecs"][0]["metadata"] = {"creationTimestamp": None}
    assert conformance.validate(obj) == []


def test_a_field_the_api_server_would_prune_fails():
    obj = seldon_deployment()
    obj["spec"]["predictors"][0]["graph"]["modelURI"] = "pvc://typo"
    obj["metadata"]["labelz"] = {}
    assert conformance.validate(obj) == [
        "SeldonDeployment/color: metadata.labelz: not in the schema, the API server would prune it",
        "SeldonDeployment/color: spec.predictors[0].graph.modelURI: not in the schema, the API server would prune it",
    ]


EXTENSIONS_CRD = """
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.example.io}
spec:
  group: example.io
  names: {kind: Widget, plural: widgets}
  scope: Namespaced
  versions:
    - name: v1
      served: true
      storage: true
      schema:
        openAPIV3Schema:
          type: object
          properties:
            spec:
              type: object
              properties:
                port: {x-kubernetes-int-or-string: true}
                extra: {type: object, x-kubernetes-preserve-unknown-fields: true, properties: {known: {type: string}}}
                template: {type: object, x-kubernetes-embedded-resource: true, properties: {spec: {type: object}}}
"""


def widget(**spec) -> dict:
    return {"apiVersion": "example.io/v1", "kind": "Widget", "metadata": {"name": "w"}, "spec": spec}


def test_kubernetes_schema_extensions(monkeypatch, tmp_path):
    (tmp_path / "example.io_widgets.yaml").write_text(EXTENSIONS_CRD)
    monkeypatch.setenv(conformance.CRDS_DIR_ENV, str(tmp_path))
    embedded = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {}}
    assert conformance.validate(widget(port=80, extra={"anything": [1]}, template=embedded)) == []
    assert conformance.validate(widget(port="http")) == []
    assert "spec.port" in conformance.validate(widget(port=1.5))[0]
    assert "'kind' is a required property" in conformance.validate(widget(template={"apiVersion": "v1"}))[0]
    (problem,) = conformance.validate(widget(extra={"known": 1}))
    assert "spec.extra.known: 1 is not of type 'string'" in problem
    assert conformance.validate(widget(template={**embedded, "status": {}})) == [
        "Widget/w: spec.template.status: not in the schema, the API server would prune it"
    ]


def test_crds_dir_can_be_overridden(monkeypatch, tmp_path):
    monkeypatch.setenv(conformance.CRDS_DIR_ENV, str(tmp_path))
    assert conformance.validate(seldon_deployment()) == []
    assert conformance.validate(seldon_deployment(), strict=True) == [
        "SeldonDeployment/color: no schema for machinelearning.seldon.io/v1 SeldonDeployment"
    ]


# ---------------------------------------------------------------- core objects and strict mode


def deployment(replicas) -> dict:
    labels = {"app": "client"}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "client", "namespace": "models"},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels}, "spec": {"containers": [{"name": "c", "image": "c:v1"}]}},
        },
    }


def test_core_objects_are_checked_with_kubernetes_schemas():
    assert conformance.validate(deployment(2)) == []
    (problem,) = conformance.validate(deployment("2"))
    assert problem.startswith("Deployment/client: spec.replicas:")
    assert conformance.validate(deployment(2.0)) == [
        "Deployment/client: spec.replicas: 2.0 is a float; Kubernetes wants an integer here"
    ]
    unknown = deployment(2)
    unknown["spec"]["replica"] = 2
    (problem,) = conformance.validate(unknown)
    assert "replica" in problem


def test_kinds_without_a_schema_only_fail_in_strict_mode():
    virtual_service = {"apiVersion": "networking.istio.io/v1beta1", "kind": "VirtualService", "metadata": {"name": "r"}}
    assert conformance.validate(virtual_service) == []
    assert conformance.validate(virtual_service, strict=True) == [
        "VirtualService/r: no schema for networking.istio.io/v1beta1 VirtualService"
    ]


def test_validate_all_groups_problems_by_object():
    bad = seldon_deployment(protocol="grpc")
    assert conformance.validate_all([seldon_deployment(), deployment(2), bad]) == {
        "SeldonDeployment/color": [
            "SeldonDeployment/color: spec.protocol: invalid protocol 'grpc' (seldon, tensorflow, kfserving, v2)"
        ]
    }


# ---------------------------------------------------------------- Seldon webhook


def two_live(first: int, second: int) -> dict:
    return with_predictors({"name": "v1", "traffic": first}, {"name": "v2", "traffic": second})


@pytest.mark.parametrize(
    ("violating", "passing", "problem"),
    [
        (seldon_deployment(protocol="grpc"), seldon_deployment(protocol="v2"), "spec.protocol: invalid protocol"),
        (seldon_deployment(transport="http"), seldon_deployment(transport="grpc"), "spec.transport: invalid transport"),
        (two_live(90, 5), two_live(90, 10), "traffic must sum to 100"),
        (with_predictors({"traffic": 50}), with_predictors({"traffic": 0}), "must be 100 when set"),
        (
            with_predictors({"name": "v1"}, {"name": "v1", "traffic": 0}),
            with_predictors({"name": "v1"}, {"name": "v2", "traffic": 0}),
            "duplicate predictor name 'v1'",
        ),
        (
            with_predictors({"name": "v1"}, {"name": "s1", "shadow": True}, {"name": "s2", "shadow": True}),
            with_predictors({"name": "v1"}, {"name": "s1", "shadow": True}),
            "multiple shadows",
        ),
        (
            with_predictors({"shadow": True}),
            with_predictors({"shadow": False}),
            "a shadow cannot be the only predictor",
        ),
        (
            with_predictors({"graph": {"name": "color", "implementation": "TENSORFLOW_SERVER"}}),
            with_predictors({"graph": {"name": "color", "implementation": "TENSORFLOW_SERVER", "modelUri": "s3://m"}}),
            "modelUri: required by the prepackaged server TENSORFLOW_SERVER",
        ),
        (
            with_predictors({"graph": {"name": "color", "implementation": "SKLEARN_SERVER", "modelUri": "s3://m"}}),
            with_predictors({"graph": {"name": "color", "implementation": "TENSORFLOW_SERVER", "modelUri": "s3://m"}}),
            "SKLEARN_SERVER does not handle protocol tensorflow",
        ),
        (
            with_predictors({"graph": {"name": "other", "type": "MODEL"}}),
            with_predictors({"graph": {"name": "color", "type": "MODEL"}}),
            "no componentSpecs container named 'other'",
        ),
    ],
)
def test_seldon_webhook_rules(violating, passing, problem):
    assert any(problem in p for p in conformance.validate(violating)), conformance.validate(violating)
    assert conformance.validate(passing) == []


# ---------------------------------------------------------------- training operator webhook


@pytest.mark.parametrize(
    ("violating", "passing", "problem"),
    [
        (
            training_job("TFJob", "tfReplicaSpecs", Worker=replica("main")),
            training_job("TFJob", "tfReplicaSpecs", Worker=replica("tensorflow")),
            "needs a container named 'tensorflow'",
        ),
        (
            training_job("TFJob", "tfReplicaSpecs", Chief=replica("tensorflow"), Master=replica("tensorflow")),
            training_job("TFJob", "tfReplicaSpecs", Chief=replica("tensorflow"), Worker=replica("tensorflow", 3)),
            "more than 1 Chief or Master",
        ),
        (
            training_job("TFJob", "tfReplicaSpecs", Worker=replica("tensorflow", image="")),
            training_job("TFJob", "tfReplicaSpecs", Worker=replica("tensorflow")),
            "containers[0].image: required",
        ),
        (
            training_job("TFJob", "tfReplicaSpecs", "color_training", Worker=replica("tensorflow")),
            training_job("TFJob", "tfReplicaSpecs", "color-training", Worker=replica("tensorflow")),
            "not a DNS-1035 label",
        ),
        (
            training_job("PyTorchJob", "pytorchReplicaSpecs", Chief=replica("pytorch")),
            training_job("PyTorchJob", "pytorchReplicaSpecs", Master=replica("pytorch")),
            "unsupported replica type 'Chief'",
        ),
        (
            training_job("PyTorchJob", "pytorchReplicaSpecs", Master=replica("pytorch", 2)),
            training_job("PyTorchJob", "pytorchReplicaSpecs", Master=replica("pytorch"), Worker=replica("pytorch", 4)),
            "Master.replicas: must be 1",
        ),
        (
            training_job("XGBoostJob", "xgbReplicaSpecs", Worker=replica("xgboost")),
            training_job("XGBoostJob", "xgbReplicaSpecs", Master=replica("xgboost"), Worker=replica("xgboost")),
            "xgbReplicaSpecs.Master: required",
        ),
        (
            training_job("MPIJob", "mpiReplicaSpecs", Worker=replica("mpi", 2)),
            training_job("MPIJob", "mpiReplicaSpecs", Launcher=replica("mpi"), Worker=replica("mpi", 2)),
            "mpiReplicaSpecs.Launcher: required",
        ),
    ],
)
def test_training_operator_rules(violating, passing, problem):
    assert any(problem in p for p in conformance.validate(violating)), conformance.validate(violating)
    assert conformance.validate(passing) == []
