"""The workloads layer: training jobs, notebooks, servings and web services on the planned platform.

Workloads are created in `dependsOn` order so each one can wait for what it names: a serving that
depends on a training job waits until the job has succeeded (the job carries `pulumi.com/waitFor`).
A model version `color:v2` lives at `<scheme>://<models bucket>/color/v2/` of the stack's own bucket; each
namespace that serves it has one read-only volume of it (`model_volumes`), which all its servings there mount.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from graphlib import TopologicalSorter

import pulumi

from mlplatform import config as cfg
from mlplatform import rules
from mlplatform.config.loading import SECRETS_NAMESPACE
from mlplatform.conventions import GPU_NODE_LABEL, mirrored
from mlplatform.infra import consoles
from mlplatform.workloads.experiment import Experiment, ExperimentArgs
from mlplatform.workloads.kserve import KServeServing, KServeServingArgs
from mlplatform.workloads.llm import LlmServing, LlmServingArgs
from mlplatform.workloads.notebook import Notebook, NotebookArgs
from mlplatform.workloads.promotion import COPY_IMAGE, ModelCopy, ModelCopyArgs, copy_name, copy_namespaces
from mlplatform.workloads.scheduling import GpuScheduling
from mlplatform.workloads.serving import ModelServing, ModelServingArgs, incoming_header_routes, predictor_traffic
from mlplatform.workloads.sso import SsoClient
from mlplatform.workloads.training import TrainingJob, TrainingJobArgs
from mlplatform.workloads.trainjob import TrainJob, TrainJobArgs
from mlplatform.workloads.volumes import BucketStorage, BucketVolume, model_volume
from mlplatform.workloads.webservice import WebService, WebServiceArgs
from stacks.context import Platform


def model_uri(platform: Platform, version: str) -> pulumi.Output[str]:
    return pulumi.Output.concat(
        platform.bucket_scheme, "://", platform.models_bucket, f"/{rules.model_prefix(version)}/"
    )


def creation_order(settings: cfg.StackConfig) -> list[str]:
    """Workload names, each after everything it depends on (config has checked names and cycles)."""
    return list(TopologicalSorter(settings.dependency_graph()).static_order())


def dashboards(platform: Platform) -> pulumi.Output[dict] | None:
    """Console links for the cluster's metrics and logs, when the stack has observability."""
    settings = platform.config
    if not settings.observability.enabled or platform.cluster_id is None or platform.cluster_name is None:
        return None
    return pulumi.Output.all(platform.cluster_id, platform.cluster_name, platform.log_project).apply(
        lambda ids: consoles.dashboards(settings.cloud, settings.region, str(ids[2]), str(ids[0]), str(ids[1]))
    )


def serving_output(serving: cfg.Serving, component: ModelServing, links: pulumi.Output[dict] | None) -> dict:
    """What a user needs to call a serving: its URLs, the header that selects it (A/B), where its metrics are.

    `url` is the in-cluster URL; `externalUrl` is the ingress load balancer's (intranet unless the ingress
    is made public). A header-routed serving answers at its target's URL only for requests carrying
    `header: value`; without the header the target answers.
    """
    output: dict = {
        "url": component.endpoint,
        "externalUrl": component.public_endpoint,
        "traffic": {p.name: predictor_traffic(serving, p) for p in serving.predictors if not p.shadow},
    }
    route = serving.route_by_header
    if route:
        header, _, value = route.header.partition(":")
        output["header"] = {"name": header.strip(), "value": value.strip()}
        output["sharesUrlWith"] = route.serving
    if links is not None:
        output["metrics"] = links.apply(lambda urls: urls["metrics"])
        output["logs"] = links.apply(lambda urls: urls["logs"])
    return output


def sso_client(settings: cfg.StackConfig) -> SsoClient | None:
    """The notebooks' OIDC client; its secret is read from `ml-platform-secrets:<clientSecretKey>` (a Pulumi secret:
    the `ml-platform:` namespace refuses secure values), which `config.load()` has checked is set."""
    sso = settings.notebook_sso
    if sso is None:
        return None
    secret = pulumi.Config(SECRETS_NAMESPACE).require_secret(sso.client_secret_key)
    registry = settings.operators.image_registry
    image = mirrored(sso.image, registry) if registry else sso.image
    return SsoClient(sso.issuer_url, sso.client_id, secret, sso.groups_claim, image, sso.tls_certificate)


def placed(settings: cfg.StackConfig) -> cfg.StackConfig:
    """Servings and web services with `namespace` set to the Kubernetes namespace of their team (`vision-models`),
    which the components put in URL paths (`/seldon/<namespace>/<name>/`); the default team's stay as they are."""

    def place(kind: str, items: dict) -> dict:
        return {
            name: item.model_copy(update={"namespace": settings.namespace_of(kind, item)}) if item.team else item
            for name, item in items.items()
        }

    return settings.model_copy(
        update={
            "servings": place("servings", settings.servings),
            "web_services": place("webServices", settings.web_services),
        }
    )


def through_mirror(settings: cfg.StackConfig) -> cfg.StackConfig:
    """Every workload image pulled through `operators.imageRegistry` when one is set (as the charts' images are)."""
    registry = settings.operators.image_registry
    if not registry:
        return settings

    def images(items: dict) -> dict:
        return {name: item.model_copy(update={"image": mirrored(item.image, registry)}) for name, item in items.items()}

    def predictors(serving: cfg.Serving) -> cfg.Serving:
        rewritten = [
            p.model_copy(update={"image": mirrored(p.image, registry)}) if p.image else p for p in serving.predictors
        ]
        llm = serving.llm
        if llm and llm.image:  # an LLM's own huggingfaceserver image (its runtime's come through the chart's values)
            llm = llm.model_copy(update={"image": mirrored(llm.image, registry)})
        return serving.model_copy(update={"predictors": rewritten, "llm": llm})

    def trial(experiment: cfg.Experiment) -> cfg.Experiment:
        return experiment.model_copy(update={"trial": images({"trial": experiment.trial})["trial"]})

    return settings.model_copy(
        update={
            "training_jobs": images(settings.training_jobs),
            "experiments": {name: trial(experiment) for name, experiment in settings.experiments.items()},
            "notebooks": images(settings.notebooks),
            "web_services": images(settings.web_services),
            "servings": {name: predictors(serving) for name, serving in settings.servings.items()},
        }
    )


@dataclass(frozen=True)
class Promoted:
    """What prod serves because the publishing stack published it, and that stack's models bucket."""

    source_bucket: pulumi.Input[str]
    versions: frozenset[str]


def model_copies(
    settings: cfg.StackConfig,
    platform: Platform,
    storage: BucketStorage,
    promoted: Promoted | None,
    opts: pulumi.ResourceOptions,
) -> dict[str, ModelCopy]:
    """Version -> the Job copying it from the publishing stack's bucket, for every promoted version served."""
    if promoted is None:
        return {}
    namespaces = copy_namespaces(settings.servings.values(), promoted.versions)
    return {
        version: ModelCopy(
            copy_name(version),
            ModelCopyArgs(
                version=version,
                source_bucket=promoted.source_bucket,
                storage=storage,
                namespace=platform.namespaces[namespace].metadata.name,
                image=mirrored(COPY_IMAGE, settings.operators.image_registry),
                depends_on=platform.operators,
            ),
            opts=opts,
        )
        for version, namespace in namespaces.items()
    }


def model_volumes(
    servings: Mapping[str, cfg.Serving],
    namespaces: Mapping[str, pulumi.Input[str]],
    storage: BucketStorage,
    opts: pulumi.ResourceOptions | None = None,
) -> dict[str, dict[str, BucketVolume]]:
    """Namespace -> model version -> its read-only volume there: one per version a namespace serves, which every
    serving of that namespace mounts (the volume belongs to the version, not to a serving). `namespaces` maps a
    placed serving's `namespace` to the Kubernetes namespace's name."""
    served: dict[str, dict[str, set[str]]] = {}  # namespace -> version -> the servings (accounts) serving it
    for name, serving in servings.items():
        for _, version in serving.served_versions():
            served.setdefault(serving.namespace, {}).setdefault(version, set()).add(name)
    return {
        namespace: {
            version: model_volume(namespace, version, storage, namespaces[namespace], sorted(names), opts)
            for version, names in sorted(versions.items())
        }
        for namespace, versions in sorted(served.items())
    }


def deploy(platform: Platform, promoted: Promoted | None = None) -> None:
    """Plan every workload of the stack config and export their endpoints."""
    settings = placed(through_mirror(platform.config))
    on_cluster = pulumi.ResourceOptions(provider=platform.provider)
    gpu = GpuScheduling(node_selector=dict([GPU_NODE_LABEL]))
    storage = BucketStorage(
        datasets_bucket=platform.datasets_bucket,
        models_bucket=platform.models_bucket,
        scheme=platform.bucket_scheme,
        endpoint=platform.storage_endpoint,
        identity=platform.bucket_identity,
    )
    created: dict[str, pulumi.Resource] = {}
    versions = settings.known_versions() | {version for _, version in settings.served_versions()}
    model_uris = {version: model_uri(platform, version) for version in sorted(versions)}
    endpoints: dict[str, pulumi.Output[str]] = {}
    public_endpoints: dict[str, pulumi.Output[str]] = {}
    servings: dict[str, dict] = {}
    links = dashboards(platform)
    clients: dict[str, pulumi.Output[str]] = {}

    copies = model_copies(settings, platform, storage, promoted, on_cluster)
    names = {key: namespace.metadata.name for key, namespace in platform.namespaces.items()}
    volumes = model_volumes(settings.servings, names, storage, on_cluster)

    def after(workload) -> list[pulumi.Resource]:
        """The operators, what the workload names in dependsOn, and the copies of the versions it serves."""
        versions = [v for _, v in workload.served_versions()] if hasattr(workload, "served_versions") else []
        served = [copies[version] for version in versions if version in copies]
        return [*platform.operators, *(created[name] for name in workload.depends_on), *served]

    def landed(args_type, kind: str, workload, depends_on: list[pulumi.Resource], **fields):
        """The args of a workload of config `kind` that mounts the buckets: in its team's namespace of that kind,
        with the stack's buckets and GPU pool, after `depends_on`."""
        namespace = platform.namespaces[settings.namespace_of(kind, workload)].metadata.name
        return args_type(namespace=namespace, storage=storage, gpu=gpu, depends_on=depends_on, **fields)

    for name in creation_order(settings):
        if name in settings.training_jobs:
            job = settings.training_jobs[name]
            v2 = job.api == "v2"  # Trainer v2's TrainJob, else a training-operator v1 job
            component_type, args_type = (TrainJob, TrainJobArgs) if v2 else (TrainingJob, TrainingJobArgs)
            waits_for = [*after(job), *(platform.trainer if v2 else [])]
            arguments = landed(args_type, "trainingJobs", job, waits_for, job=job)
            created[name] = component_type(name, arguments, opts=on_cluster)
        elif name in settings.servings:
            serving = settings.servings[name]
            shared = volumes.get(serving.namespace, {})
            if serving.backend == "kserve":
                component = _kserve_serving(platform, name, serving, storage, gpu, shared, after(serving), on_cluster)
            else:
                component = ModelServing(
                    name,
                    ModelServingArgs(
                        serving=serving,
                        namespace=platform.namespaces[serving.namespace].metadata.name,
                        storage=storage,
                        seldon=settings.operators.seldon,
                        ingress_url=platform.ingress_url,
                        ingress_host=platform.ingress_host,
                        gpu=gpu,
                        header_routes=incoming_header_routes(settings.servings, name),
                        depends_on=after(serving),
                        model_volumes=shared,
                    ),
                    opts=on_cluster,
                )
            created[name] = component
            endpoints[name] = component.endpoint
            public_endpoints[name] = component.public_endpoint
            servings[name] = serving_output(serving, component, links)
        else:
            service = settings.web_services[name]
            env = dict(service.env)
            component = WebService(
                name,
                WebServiceArgs(
                    config=service,
                    namespace=platform.namespaces[service.namespace].metadata.name,
                    cloud=settings.cloud,
                    env={**env, **({"SERVING_URL": endpoints[service.serving]} if service.serving else {})},
                    gpu=gpu,
                    depends_on=after(service),
                ),
                opts=on_cluster,
            )
            created[name] = component
            clients[name] = component.endpoint
    experiments = {
        name: Experiment(
            name,
            landed(
                ExperimentArgs,
                "experiments",
                experiment,
                # Katib's CRD and webhooks, and the operator of the trials' kind.
                [*platform.operators, *platform.katib, *(platform.trainer if experiment.trial.api == "v2" else [])],
                experiment=experiment,
            ),
            opts=on_cluster,
        )
        for name, experiment in settings.experiments.items()
    }
    sso = sso_client(settings) if settings.notebooks else None
    notebooks = {
        name: Notebook(
            name,
            landed(NotebookArgs, "notebooks", notebook, platform.operators, notebook=notebook, sso=sso),
            opts=on_cluster,
        )
        for name, notebook in settings.notebooks.items()
    }
    pulumi.export("endpoints", endpoints)
    pulumi.export("publicEndpoints", public_endpoints)
    pulumi.export("servings", servings)
    pulumi.export("webServices", clients)
    pulumi.export("notebooks", {name: notebook.url for name, notebook in notebooks.items()})
    pulumi.export(
        "notebookAccess",
        {name: notebook.port_forward for name, notebook in notebooks.items() if not settings.notebooks[name].expose},
    )
    if sso is not None:
        # The command that makes a private notebook's SSO URL (http://localhost:4180/...) reach its proxy;
        # `notebookAccess` stays the direct path to Jupyter, where the token is the only factor.
        pulumi.export(
            "notebookSignOn",
            {
                name: notebook.sso.port_forward
                for name, notebook in notebooks.items()
                if notebook.sso and not settings.notebooks[name].expose
            },
        )
    if links is not None:
        pulumi.export("dashboards", links)
    pulumi.export("notebookTokens", pulumi.Output.secret({name: n.token for name, n in notebooks.items()}))
    pulumi.export("modelUris", model_uris)
    if experiments:
        pulumi.export("experiments", {name: experiment_output(component) for name, component in experiments.items()})


def experiment_output(component: Experiment) -> dict:
    """Where an experiment's trials write, and the two commands that make its best trial the model version: read
    the best trial's name from the Experiment's status, copy its folder to the version's (docs/tuning.md)."""
    namespace, name = component.namespace, component.experiment_name
    best = pulumi.Output.concat(
        "kubectl -n ", namespace, " get experiment ", name, " -o jsonpath='{.status.currentOptimalTrial.bestTrialName}'"
    )
    copy = pulumi.Output.concat(
        "BEST_TRIAL=$(",
        best,
        ") && ",
        copy_command(component.model_uri),
        " ",
        component.trials_uri,
        "$BEST_TRIAL/ ",
        component.model_uri,
    )
    return {"modelVersion": component.model_version, "trials": component.trials_uri, "bestTrial": best, "publish": copy}


def copy_command(uri: pulumi.Output[str]) -> pulumi.Output[str]:
    """The CLI that copies a folder of the models bucket: ossutil on Alibaba Cloud, the AWS CLI on AWS."""
    return uri.apply(lambda text: "aws s3 cp --recursive" if text.startswith("s3://") else "ossutil cp -r")


def _kserve_serving(
    platform: Platform,
    name: str,
    serving: cfg.Serving,
    storage: BucketStorage,
    gpu: GpuScheduling,
    volumes: Mapping[str, BucketVolume],
    after: list[pulumi.Resource],
    opts: pulumi.ResourceOptions,
) -> KServeServing | LlmServing:
    """A serving on KServe: an LLM (Hugging Face server, vLLM) or predictors of a prepackaged server or image."""
    route = serving.route_by_header
    llm = serving.kind == "llm"
    extra = {"prometheus_address": platform.keda_prometheus} if llm else {}
    arguments = (LlmServingArgs if llm else KServeServingArgs)(
        serving=serving,
        namespace=platform.namespaces[serving.namespace].metadata.name,
        storage=storage,
        ingress_url=platform.kserve_ingress_url,
        ingress_host=platform.kserve_ingress_host,
        gpu=gpu,
        route_target=platform.config.servings[route.serving] if route else None,
        # An LLM scales through KEDA's ScaledObject.
        depends_on=[*after, *platform.kserve, *(platform.keda if llm else [])],
        model_volumes=volumes,
        **extra,
    )
    return (LlmServing if llm else KServeServing)(name, arguments, opts=opts)
