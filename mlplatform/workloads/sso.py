"""Single sign-on in front of one notebook: an oauth2-proxy (v7.15.3) that logs users in against the stack's OIDC
client and lets only the notebook's own users or groups through to the notebook's Service.

One proxy per notebook, not one shared proxy with per-notebook routing: each proxy carries only its notebook's
allow-list (`--authenticated-emails-file`, `--allowed-group`), its own session cookie name and its own upstream,
so a misrouted path can never reach another user's notebook, and removing a notebook removes its proxy.

Flags (oauth2-proxy.github.io/oauth2-proxy/configuration/overview, "Command Line Options"; the chart
oauth2-proxy/manifests `helm/oauth2-proxy` 10.7.0, appVersion 7.15.3, passes the same flags and reads the client
and cookie secrets from `OAUTH2_PROXY_CLIENT_SECRET` / `OAUTH2_PROXY_COOKIE_SECRET`):
- `--provider=oidc --oidc-issuer-url --client-id`: the stack's `notebookSso`; the client secret is a Pulumi secret
  in a Kubernetes Secret, never on the command line.
- `--authenticated-emails-file` (one address a line, from a ConfigMap) when the notebook names users; else
  `--email-domain=*` so that only `--allowed-group` (the `groupsClaim` of the ID token) decides. With both,
  oauth2-proxy requires both: a listed user who is also in a listed group.
- `--upstream`: the Service the notebook controller creates for the notebook (`<name>:80`, to Jupyter's 8888);
  websockets (kernels) are proxied by default (`--proxy-websockets`, default true).
- `--cookie-secure` stays on (its default): browsers send Secure cookies back only over https, and treat
  http://localhost (the port-forward path) as secure. With it on, oauth2-proxy also builds its OAuth redirect
  URL as `https://<Host>/oauth2/callback` whatever the request's scheme (v7.15.3 `oauthproxy.go`
  `getOAuthRedirectURI`), so no `--reverse-proxy` or forwarded headers are needed behind a TLS load balancer.
- Exposed (`expose: true`), the proxy sits behind a load balancer that terminates HTTPS on 443 with the
  certificate `notebookSso.tlsCertificate` names and forwards HTTP to the pod's 4180 (`addresses.py`: the
  annotations of each cloud's controller), internal to the VPC unless the notebook sets `public: true`. The
  config refuses an exposed notebook without a certificate (`StackConfig._check_sso_certificate`): turning
  `--cookie-secure` off instead would send the session cookie, the user's login, in clear text.
- Probes `/ping` (liveness) and `/ready` (readiness) on the HTTP port, as the chart's deployment template does.
- Cookie secret: 32 characters of `[A-Za-z0-9-_]`, the chart docs' `random_password` recipe ("Generating a Cookie
  Secret": a 32-byte secret for AES-256).

The Jupyter token stays on behind the proxy: it is the second factor, and the only one on the port-forward path
to the notebook's own Service.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random

from mlplatform.workloads.addresses import HTTPS_PORT, LoadBalancer, load_balancer_address
from mlplatform.workloads.security import RUN_AS, harden_pod, service_account

HTTP_PORT = 4180
SERVICE_PORT = 80
EMAILS_DIR = "/etc/oauth2-proxy"
EMAILS_FILE = "authenticated-emails"
# Marks a Notebook whose users come through a proxy; read by the notebook-sso and notebook-access policies.
SSO_ANNOTATION = "mlplatform.io/sso-proxy"
RESOURCES = {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"cpu": "200m", "memory": "128Mi"}}


@dataclass(frozen=True)
class SsoClient:
    """The stack's OIDC client, shared by every notebook's proxy."""

    issuer_url: str
    client_id: str
    # A secret Output: `pulumi.Config("ml-platform-secrets").require_secret(...)`.
    client_secret: pulumi.Input[str]
    groups_claim: str = "groups"
    image: str = "quay.io/oauth2-proxy/oauth2-proxy:v7.15.3"
    # What an exposed proxy's load balancer serves HTTPS with (`notebookSso.tlsCertificate`).
    tls_certificate: str | None = None


@dataclass(frozen=True)
class NotebookSsoArgs:
    """The component's name is `<notebook>-sso`; it proxies to the notebook `notebook`."""

    notebook: str
    namespace: pulumi.Input[str]
    client: SsoClient
    allowed_emails: Sequence[str] = ()
    allowed_groups: Sequence[str] = ()
    # A load balancer for the proxy, with HTTPS (the notebook itself stays ClusterIP); None: in-cluster only.
    load_balancer: LoadBalancer | None = None
    # The path the notebook serves under (`/notebook/<namespace>/<name>/`), for the URL.
    path: pulumi.Input[str] = "/"
    depends_on: Sequence[pulumi.Resource] = ()


def proxy_args(args: NotebookSsoArgs, namespace: str) -> list[str]:
    """oauth2-proxy's command line for one notebook."""
    flags = [
        "--provider=oidc",
        f"--oidc-issuer-url={args.client.issuer_url}",
        f"--client-id={args.client.client_id}",
        f"--oidc-groups-claim={args.client.groups_claim}",
        f"--http-address=0.0.0.0:{HTTP_PORT}",
        f"--upstream=http://{args.notebook}.{namespace}.svc.cluster.local:{SERVICE_PORT}/",
        f"--cookie-name=_sso_{args.notebook}",
        "--skip-provider-button=true",
    ]
    if args.allowed_emails:
        flags.append(f"--authenticated-emails-file={EMAILS_DIR}/{EMAILS_FILE}")
    else:
        flags.append("--email-domain=*")
    flags += [f"--allowed-group={group}" for group in sorted(args.allowed_groups)]
    return flags


class NotebookSso(pulumi.ComponentResource):
    """Outputs `url`: where the notebook is opened through the proxy, and `port_forward` to reach it privately."""

    url: pulumi.Output[str]
    port_forward: pulumi.Output[str]

    def __init__(self, name: str, args: NotebookSsoArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("mlplatform:sso:NotebookSso", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        labels = {"app.kubernetes.io/name": name, "app.kubernetes.io/part-of": "ml-platform"}
        cookie = random.RandomPassword(f"{name}-cookie", length=32, override_special="-_", opts=child)
        secret = k8s.core.v1.Secret(
            f"{name}-secret",
            metadata={"name": name, "namespace": args.namespace, "labels": labels},
            type="Opaque",
            string_data={
                "client-secret": pulumi.Output.secret(args.client.client_secret),
                "cookie-secret": pulumi.Output.secret(cookie.result),
            },
            opts=child,
        )
        volumes, mounts, prerequisites = [], [], [secret]
        if args.allowed_emails:
            emails = k8s.core.v1.ConfigMap(
                f"{name}-emails",
                metadata={"name": f"{name}-emails", "namespace": args.namespace, "labels": labels},
                data={EMAILS_FILE: "".join(f"{email}\n" for email in sorted(args.allowed_emails))},
                opts=child,
            )
            prerequisites.append(emails)
            volumes.append({"name": "emails", "configMap": {"name": emails.metadata.name}})
            mounts.append({"name": "emails", "mountPath": EMAILS_DIR, "readOnly": True})
        account, account_name = service_account(name, args.namespace, parent=self)
        prerequisites.append(account)

        def env(variable: str, key: str) -> dict:
            return {"name": variable, "valueFrom": {"secretKeyRef": {"name": secret.metadata.name, "key": key}}}

        container = {
            "name": "oauth2-proxy",
            "image": args.client.image,
            "args": pulumi.Output.from_input(args.namespace).apply(lambda namespace: proxy_args(args, namespace)),
            "env": [
                env("OAUTH2_PROXY_CLIENT_SECRET", "client-secret"),
                env("OAUTH2_PROXY_COOKIE_SECRET", "cookie-secret"),
            ],
            "ports": [{"name": "http", "containerPort": HTTP_PORT, "protocol": "TCP"}],
            "resources": RESOURCES,
            "readinessProbe": {"httpGet": {"path": "/ready", "port": "http"}, "periodSeconds": 10},
            "livenessProbe": {"httpGet": {"path": "/ping", "port": "http"}, "initialDelaySeconds": 10},
            "volumeMounts": mounts,
        }
        pod = harden_pod({"containers": [container], "volumes": volumes}, RUN_AS["sso-proxy"], account_name, True)
        self.deployment = k8s.apps.v1.Deployment(
            f"{name}-deployment",
            metadata={"name": name, "namespace": args.namespace, "labels": labels},
            spec={
                "replicas": 1,
                "selector": {"matchLabels": labels},
                "template": {"metadata": {"labels": labels}, "spec": pod},
            },
            opts=pulumi.ResourceOptions(parent=self, depends_on=[*prerequisites, *args.depends_on]),
        )
        exposed = args.load_balancer
        metadata = {"name": name, "namespace": args.namespace, "labels": labels}
        # Exposed: the load balancer's HTTPS listener on 443; in the cluster: plain HTTP on 80. Either way to 4180.
        port = {"name": "https", "port": HTTPS_PORT} if exposed else {"name": "http", "port": SERVICE_PORT}
        self.service = k8s.core.v1.Service(
            f"{name}-service",
            metadata={**metadata, "annotations": exposed.annotations} if exposed else metadata,
            spec={
                "type": "LoadBalancer" if exposed else "ClusterIP",
                "selector": labels,
                "ports": [{**port, "targetPort": "http", "protocol": "TCP"}],
            },
            opts=child,
        )
        self.port_forward = pulumi.Output.concat(
            "kubectl -n ", args.namespace, f" port-forward svc/{name} {HTTP_PORT}:{port['port']}"
        )
        if exposed:
            self.url = pulumi.Output.concat("https://", self.service.status.apply(load_balancer_address), args.path)
        else:
            self.url = pulumi.Output.concat(f"http://localhost:{HTTP_PORT}", args.path)
        self.register_outputs({"url": self.url, "portForward": self.port_forward})
