"""The workloads layer: training jobs, notebooks, servings and web services on the planned platform.

Workloads are created in `dependsOn` order so each one can wait for what it names: a serving that
depends on a training job waits until the job has succeeded (the job carries `pulumi.com/waitFor`).
A model version `color:v2` lives at `<scheme>://<models bucket>/color/v2/` of the stack's own bucket.
"""

from __future__ import annotations

from graphlib import TopologicalSorter

import pulumi

from mlplatform import config as cfg
from mlplatform import rules
from mlplatform.conventions import GPU_NODE_LABEL, STORAGE_SECRET
from mlplatform.workloads.notebook import Notebook, NotebookArgs
from mlplatform.workloads.scheduling import GpuScheduling
from mlplatform.workloads.serving import ModelServing, ModelServingArgs, incoming_header_routes
from mlplatform.workloads.training import TrainingJob, TrainingJobArgs
from mlplatform.workloads.volumes import BucketStorage
from mlplatform.workloads.webservice import WebService, WebServiceArgs
from stacks.context import Platform


def model_uri(platform: Platform, version: str) -> pulumi.Output[str]:
    return pulumi.Output.concat(
        platform.bucket_scheme, "://", platform.models_bucket, f"/{rules.model_prefix(version)}/"
    )


def creation_order(settings: cfg.StackConfig) -> list[str]:
    """Workload names, each after everything it depends on (config has checked names and cycles)."""
    graph: dict[str, set[str]] = {}
    for kind in (settings.training_jobs, settings.servings, settings.web_services):
        for name, workload in kind.items():
            graph[name] = set(workload.depends_on)
    for name, serving in settings.servings.items():
        if serving.route_by_header:  # the routed serving shares its target's URL
            graph[name].add(serving.route_by_header.serving)
    return list(TopologicalSorter(graph).static_order())


def deploy(platform: Platform) -> None:
    """Plan every workload of the stack config and export their endpoints."""
    settings = platform.config
    on_cluster = pulumi.ResourceOptions(provider=platform.provider)
    gpu = GpuScheduling(node_selector=dict([GPU_NODE_LABEL]))
    storage = BucketStorage(
        datasets_bucket=platform.datasets_bucket,
        models_bucket=platform.models_bucket,
        scheme=platform.bucket_scheme,
        endpoint=platform.storage_endpoint,
        credentials_secret=STORAGE_SECRET,
    )
    created: dict[str, pulumi.Resource] = {}
    versions = settings.known_versions() | {version for _, version in settings.served_versions()}
    model_uris = {version: model_uri(platform, version) for version in sorted(versions)}
    endpoints: dict[str, pulumi.Output[str]] = {}
    public_endpoints: dict[str, pulumi.Output[str]] = {}
    clients: dict[str, pulumi.Output[str]] = {}

    def after(workload) -> list[pulumi.Resource]:
        return [*platform.operators, *(created[name] for name in workload.depends_on)]

    for name in creation_order(settings):
        if name in settings.training_jobs:
            job = settings.training_jobs[name]
            created[name] = TrainingJob(
                name,
                TrainingJobArgs(
                    job=job,
                    namespace=platform.namespaces["training"].metadata.name,
                    storage=storage,
                    gpu=gpu,
                    depends_on=after(job),
                ),
                opts=on_cluster,
            )
        elif name in settings.servings:
            serving = settings.servings[name]
            component = ModelServing(
                name,
                ModelServingArgs(
                    serving=serving,
                    namespace=platform.namespaces[serving.namespace].metadata.name,
                    model_uris=model_uris,
                    storage_secret=STORAGE_SECRET,
                    seldon=settings.operators.seldon,
                    ingress_url=platform.ingress_url,
                    ingress_host=platform.ingress_host,
                    gpu=gpu,
                    header_routes=incoming_header_routes(settings.servings, name),
                    depends_on=after(serving),
                ),
                opts=on_cluster,
            )
            created[name] = component
            endpoints[name] = component.endpoint
            public_endpoints[name] = component.public_endpoint
        else:
            service = settings.web_services[name]
            env = dict(service.env)
            component = WebService(
                name,
                WebServiceArgs(
                    config=service,
                    namespace=platform.namespaces[service.namespace].metadata.name,
                    env={**env, **({"SERVING_URL": endpoints[service.serving]} if service.serving else {})},
                    gpu=gpu,
                    depends_on=after(service),
                ),
                opts=on_cluster,
            )
            created[name] = component
            clients[name] = component.endpoint
    notebooks = {
        name: Notebook(
            name,
            NotebookArgs(
                notebook=notebook,
                namespace=platform.namespaces["notebooks"].metadata.name,
                gpu=gpu,
                depends_on=platform.operators,
            ),
            opts=on_cluster,
        )
        for name, notebook in settings.notebooks.items()
    }
    pulumi.export("endpoints", endpoints)
    pulumi.export("publicEndpoints", public_endpoints)
    pulumi.export("webServices", clients)
    pulumi.export("notebooks", {name: notebook.port_forward for name, notebook in notebooks.items()})
    pulumi.export("notebookTokens", pulumi.Output.secret({name: n.token for name, n in notebooks.items()}))
    pulumi.export("modelUris", model_uris)
