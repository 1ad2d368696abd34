"""Pod hardening and notebook single sign-on as the cluster receives them.

Every pod template of the four shipped stacks carries the Pod Security Standards' restricted fields; the pure
functions render them; a notebook behind `notebookSso` is reached through its own oauth2-proxy.
"""

import dataclasses
from pathlib import Path

import pytest

from mlplatform import config
from mlplatform import validation as conformance
from mlplatform.config import ConfigError
from mlplatform.config import Notebook as NotebookConfig
from mlplatform.offline import stackfiles
from mlplatform.offline.engine import SECRET_SIG, SIG_KEY
from mlplatform.offline.preview import run_preview
from mlplatform.workloads.addresses import load_balancer_annotations
from mlplatform.workloads.identity import BucketIdentity
from mlplatform.workloads.notebook import Notebook, NotebookArgs
from mlplatform.workloads.security import (
    RUN_AS,
    RunAs,
    container_security_context,
    harden_pod,
    http_probes,
    pod_security_context,
)
from mlplatform.workloads.sso import SSO_ANNOTATION, NotebookSsoArgs, SsoClient, proxy_args
from mlplatform.workloads.volumes import BucketStorage

ROOT = Path(__file__).resolve().parents[2]
STACKS = ("dev", "prod", "dev-aws", "prod-aws")
TRAINING_KEYS = {"TFJob": "tfReplicaSpecs", "PyTorchJob": "pytorchReplicaSpecs", "XGBoostJob": "xgbReplicaSpecs"}
TRAINING_KEYS["MPIJob"] = "mpiReplicaSpecs"
STORAGE = BucketStorage(
    datasets_bucket="mlp-datasets",
    models_bucket="mlp-models",
    scheme="s3",
    endpoint="https://s3.us-west-2.amazonaws.com",
    identity=BucketIdentity(cloud="aws", cluster_name="dev-cluster", stack="dev"),
)
CLIENT = SsoClient("https://login.example.com/realms/ml", "notebooks", "client-secret-value")
CERTIFICATE = "arn:aws:acm:us-west-2:111122223333:certificate/0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"


def pod_templates(manifest: dict) -> list[tuple[str, dict, list[dict]]]:
    """(where, pod-level fields, containers) of every pod a rendered object describes."""
    kind, spec = manifest["kind"], manifest.get("spec", {})
    name = f"{kind}/{manifest['metadata']['name']}"
    if kind in ("Deployment", "StatefulSet", "DaemonSet", "Job", "Notebook"):
        pod = spec["template"]["spec"]
        return [(name, pod, pod["containers"])]
    if kind in TRAINING_KEYS:
        return [
            (f"{name} {role}", r["template"]["spec"], r["template"]["spec"]["containers"])
            for role, r in spec[TRAINING_KEYS[kind]].items()
        ]
    if kind == "SeldonDeployment":
        return [
            (f"{name} {p['name']}", c["spec"], c["spec"]["containers"])
            for p in spec["predictors"]
            for c in p["componentSpecs"]
        ]
    if kind == "InferenceService":
        predictors = [spec["predictor"], *(c["predictor"] for c in spec.get("canary", []))]
        return [(f"{name} {p.get('name')}", p, [p.get("model") or p["containers"][0]]) for p in predictors]
    if kind == "TrainJob":
        return [
            (
                f"{name} {job['name']}",
                job["template"]["spec"]["template"]["spec"],
                job["template"]["spec"]["template"]["spec"]["containers"],
            )
            for patch in spec["runtimePatches"]
            for job in patch["trainingRuntimeSpec"]["template"]["spec"]["replicatedJobs"]
        ]
    return []


@pytest.mark.parametrize("stack", STACKS)
def test_every_pod_template_of_a_shipped_stack_is_hardened(shipped, stack):
    pods = [pod for manifest in shipped(stack).manifests for pod in pod_templates(manifest)]

    assert pods, "the stack renders workloads"
    for where, pod, containers in pods:
        context = pod["securityContext"]
        assert context["runAsNonRoot"] is True, where
        assert context["runAsUser"] > 0 and context["runAsGroup"] >= 0 and context["fsGroup"] >= 0, where
        assert context["seccompProfile"] == {"type": "RuntimeDefault"}, where
        for container in containers:
            assert container["securityContext"]["allowPrivilegeEscalation"] is False, where
            assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}, where
        # Its own service account, never `default`: the MPI launcher's too (issue 21, identity per pod).
        assert pod.get("serviceAccountName") not in (None, "default"), where


@pytest.mark.parametrize("stack", STACKS)
def test_each_workload_service_account_is_its_own_without_an_api_token(shipped, stack):
    manifests = shipped(stack).manifests
    accounts = {
        (m["metadata"]["namespace"], m["metadata"]["name"]): m for m in manifests if m["kind"] == "ServiceAccount"
    }
    for manifest in manifests:
        for where, pod, _ in pod_templates(manifest):
            account = pod.get("serviceAccountName")
            if account is None:
                continue
            rendered = accounts[(manifest["metadata"]["namespace"], account)]
            assert rendered["automountServiceAccountToken"] is False, where


def test_web_services_have_readiness_and_liveness_probes_on_their_port(shipped):
    [client] = [
        m for m in shipped("dev").manifests if m["kind"] == "Deployment" and m["metadata"]["name"] == "color-client"
    ]
    [container] = client["spec"]["template"]["spec"]["containers"]
    assert container["readinessProbe"]["tcpSocket"] == {"port": "http"}
    assert container["livenessProbe"]["tcpSocket"] == {"port": "http"}


def test_seldon_pods_run_as_the_operators_default_user(shipped):
    seldon = [m for m in shipped("prod").manifests if m["kind"] == "SeldonDeployment"]
    assert seldon
    for manifest in seldon:
        for _, pod, _ in pod_templates(manifest):
            assert pod["securityContext"]["runAsUser"] == 8888
            # The operator adds TCP probes to graph containers itself: none rendered here.
            assert all("readinessProbe" not in c for c in pod["containers"])


# ------------------------------------------------------------------ the pure functions


def test_pod_and_container_contexts_are_the_restricted_profile():
    assert pod_security_context(RunAs(1000, 100, 100)) == {
        "runAsNonRoot": True,
        "runAsUser": 1000,
        "runAsGroup": 100,
        "fsGroup": 100,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    assert container_security_context(read_only_root=True) == {
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
        "readOnlyRootFilesystem": True,
    }


def test_a_configured_user_replaces_the_kinds_default_and_its_matching_groups():
    assert RUN_AS["training"].with_user(1234) == RunAs(1234, 1234, 1234)
    assert RUN_AS["notebook"].with_user(1234) == RunAs(1234, 100, 100)
    assert RUN_AS["seldon"].with_user(None) == RUN_AS["seldon"]


def test_harden_pod_covers_init_containers_and_runs_the_pod_as_its_own_account():
    pod = {"containers": [{"name": "main"}], "initContainers": [{"name": "setup"}], "volumes": []}

    hardened = harden_pod(pod, RUN_AS["training"], "job", automount_token=None)

    assert hardened["initContainers"][0]["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    assert hardened["serviceAccountName"] == "job" and "automountServiceAccountToken" not in hardened
    assert "securityContext" not in pod["containers"][0]  # the input is not changed
    own = harden_pod(pod, RUN_AS["training"], "job")
    assert (own["serviceAccountName"], own["automountServiceAccountToken"]) == ("job", False)


def test_probes_use_http_on_a_health_path_and_tcp_without_one():
    assert http_probes(8080, "/healthz")["readinessProbe"]["httpGet"] == {"path": "/healthz", "port": 8080}
    assert http_probes("http")["livenessProbe"]["tcpSocket"] == {"port": "http"}


def test_config_user_must_not_be_root():
    with pytest.raises(ValueError):
        NotebookConfig.model_validate({"image": "kubeflownotebookswg/jupyter-scipy:v1.9.0", "runAsUser": 0})


# ------------------------------------------------------------------ notebook single sign-on


def render_notebook(plan, sso=CLIENT, **overrides):
    notebook = NotebookConfig.model_validate({"image": "kubeflownotebookswg/jupyter-scipy:v1.9.0", **overrides})

    def program():
        Notebook("alice", NotebookArgs(notebook=notebook, namespace="notebooks", storage=STORAGE, sso=sso))

    return plan(program)


def test_a_notebook_behind_sso_gets_its_own_proxy_limited_to_its_users(plan):
    monitor = render_notebook(plan, allowedEmails=["alice@example.com"], allowedGroups=["ml-team"])

    [proxy] = [d for d in monitor.of_type("kubernetes:apps/v1:Deployment") if d.name == "alice-sso-deployment"]
    assert conformance.validate(proxy.inputs) == []
    pod = proxy.inputs["spec"]["template"]["spec"]
    [container] = pod["containers"]
    assert container["image"] == "quay.io/oauth2-proxy/oauth2-proxy:v7.15.3"
    args = container["args"]
    assert "--provider=oidc" in args
    assert "--oidc-issuer-url=https://login.example.com/realms/ml" in args
    assert "--upstream=http://alice.notebooks.svc.cluster.local:80/" in args
    assert "--authenticated-emails-file=/etc/oauth2-proxy/authenticated-emails" in args
    assert "--allowed-group=ml-team" in args
    assert not any(a.startswith("--client-secret") for a in args)  # never on the command line
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert pod["securityContext"]["runAsNonRoot"] is True
    [emails] = [c for c in monitor.of_type("kubernetes:core/v1:ConfigMap") if c.name == "alice-sso-emails"]
    assert emails.inputs["data"] == {"authenticated-emails": "alice@example.com\n"}
    [secret] = [s for s in monitor.of_type("kubernetes:core/v1:Secret") if s.name == "alice-sso-secret"]
    assert secret.inputs["stringData"][SIG_KEY] == SECRET_SIG
    assert set(secret.inputs["stringData"]["value"]) == {"client-secret", "cookie-secret"}
    assert secret.inputs["stringData"]["value"]["client-secret"] == "client-secret-value"
    [notebook] = monitor.of_type("kubernetes:kubeflow.org/v1:Notebook")
    assert notebook.inputs["metadata"]["annotations"][SSO_ANNOTATION] == "alice-sso"


def test_an_exposed_notebook_behind_sso_exposes_the_proxy_with_https_on_an_internal_load_balancer(plan):
    client = dataclasses.replace(CLIENT, tls_certificate=CERTIFICATE)
    monitor = render_notebook(plan, sso=client, allowedGroups=["ml-team"], expose=True)

    services = {s.name: s.inputs for s in monitor.of_type("kubernetes:core/v1:Service")}
    proxy = services["alice-sso-service"]
    assert proxy["spec"]["type"] == "LoadBalancer"
    # cloud-provider-aws: an HTTPS listener on 443 with the ACM certificate, HTTP to the pod's 4180; internal.
    assert proxy["metadata"]["annotations"] == {
        "service.beta.kubernetes.io/aws-load-balancer-internal": "true",
        "service.beta.kubernetes.io/aws-load-balancer-ssl-cert": CERTIFICATE,
        "service.beta.kubernetes.io/aws-load-balancer-ssl-ports": "443",
        "service.beta.kubernetes.io/aws-load-balancer-backend-protocol": "http",
    }
    assert proxy["spec"]["ports"] == [{"name": "https", "port": 443, "targetPort": "http", "protocol": "TCP"}]
    [deployment] = [d for d in monitor.of_type("kubernetes:apps/v1:Deployment") if d.name == "alice-sso-deployment"]
    args = deployment.inputs["spec"]["template"]["spec"]["containers"][0]["args"]
    assert not any(a.startswith("--cookie-secure") for a in args)  # Secure cookies (the default), over HTTPS
    assert monitor.named("alice").outputs["url"].startswith("https://")
    assert "alice-public" not in services
    [notebook] = monitor.of_type("kubernetes:kubeflow.org/v1:Notebook")
    assert notebook.inputs["metadata"]["annotations"]["mlplatform.io/expose"] == "false"


def test_the_proxys_https_listener_on_ack_names_the_certificate_id():
    assert load_balancer_annotations("alicloud", certificate="12345-cn-hangzhou") == {
        "service.beta.kubernetes.io/alibaba-cloud-loadbalancer-address-type": "intranet",
        "service.beta.kubernetes.io/alibaba-cloud-loadbalancer-protocol-port": "https:443",
        "service.beta.kubernetes.io/alibaba-cloud-loadbalancer-cert-id": "12345-cn-hangzhou",
    }


def test_groups_only_admit_any_address_of_the_group():
    args = NotebookSsoArgs(notebook="bob", namespace="notebooks", client=CLIENT, allowed_groups=("ml",))
    flags = proxy_args(args, "notebooks")
    assert "--email-domain=*" in flags and "--allowed-group=ml" in flags
    assert not any(f.startswith("--authenticated-emails-file") for f in flags)


def with_sso(project: Path, notebook_access: str) -> None:
    path = project / "Pulumi.dev.yaml"
    text = path.read_text()
    old = "  ml-platform:notebooks:\n    data-science:\n"
    assert text.count(old) == 1
    text = text.replace(old, old + notebook_access)
    text += (
        "  ml-platform:notebookSso:\n"
        "    issuerUrl: https://login.example.com/realms/ml\n"
        "    clientId: notebooks\n"
        "  ml-platform-secrets:oidcClientSecret:\n"
        "    secure: v1:AAAAAAAAAAAAAAAA:BBBBBBBBBBBBBBBBBBBBBBBBBBBB\n"
    )
    path.write_text(text)


def test_the_dev_stack_with_sso_renders_a_valid_proxy_and_outputs_its_url(project):
    with_sso(project, "      allowedGroups: [data-science]\n")

    result = run_preview("dev", project)

    assert result.validation.summary().startswith("validated")
    [proxy] = [m for m in result.manifests if m["metadata"]["name"] == "data-science-sso" and m["kind"] == "Deployment"]
    assert "--allowed-group=data-science" in proxy["spec"]["template"]["spec"]["containers"][0]["args"]
    assert result.outputs["notebooks"]["data-science"] == "http://localhost:4180/notebook/notebooks/data-science/"
    assert result.outputs["notebookSignOn"]["data-science"] == (
        "kubectl -n notebooks port-forward svc/data-science-sso 4180:80"
    )


def config_values(**changes) -> dict:
    raw = stackfiles.load(ROOT, "dev").namespace_values()
    raw["notebooks"] = {"data-science": {**raw["notebooks"]["data-science"], **changes.pop("notebook", {})}}
    return {**raw, **changes}


SSO = {"issuerUrl": "https://login.example.com/realms/ml", "clientId": "notebooks"}


def test_a_notebook_behind_sso_must_name_its_users_or_groups():
    with pytest.raises(ConfigError) as error:
        config.parse(config_values(notebookSso=SSO))
    assert "notebooks.data-science.allowedEmails" in str(error.value)
    assert "names its users" in str(error.value)


def test_an_allow_list_without_sso_is_refused_and_an_http_issuer_too():
    with pytest.raises(ConfigError) as error:
        config.parse(config_values(notebook={"allowedGroups": ["ml"]}))
    assert "notebooks.data-science.allowedGroups" in str(error.value)
    with pytest.raises(ConfigError) as error:
        config.parse(config_values(notebookSso={**SSO, "issuerUrl": "http://login"}, notebook={"allowedGroups": ["a"]}))
    assert "notebookSso.issuerUrl" in str(error.value)


def test_an_exposed_notebook_behind_sso_needs_a_certificate_of_the_stacks_cloud():
    exposed = {"allowedGroups": ["a"], "expose": True}
    with pytest.raises(ConfigError) as error:
        config.parse(config_values(notebookSso=SSO, notebook=exposed))
    assert "notebookSso.tlsCertificate" in str(error.value)
    assert "session cookies are Secure" in str(error.value)
    with pytest.raises(ConfigError) as error:  # the dev stack is on ACK: a cert-id, not an ARN
        config.parse(config_values(notebookSso={**SSO, "tlsCertificate": CERTIFICATE}, notebook=exposed))
    assert "notebookSso.tlsCertificate" in str(error.value) and "not an ARN" in str(error.value)
    parsed = config.parse(config_values(notebookSso={**SSO, "tlsCertificate": "12345-cn-hangzhou"}, notebook=exposed))
    assert parsed.notebook_sso.tls_certificate == "12345-cn-hangzhou"
    # Not exposed: the port-forward URL is http://localhost, which browsers treat as secure.
    assert config.parse(config_values(notebookSso=SSO, notebook={"allowedGroups": ["a"]})).notebook_sso
