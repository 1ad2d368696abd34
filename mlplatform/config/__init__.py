"""Typed stack config: the `ml-platform:` namespace of Pulumi.<stack>.yaml as pydantic models.

Keys are camelCase (Pulumi's convention) so that every value can be edited with
`pulumi config set --path 'ml-platform:servings.color.predictors[1].traffic' 20`.
Everything is validated before any resource is registered; a bad value becomes a
`ConfigError` naming its config path and the reason.

Models live by area (`infra`, `workloads`, `stack`); this package re-exports them so call sites
read `cfg.Serving`, `cfg.parse(...)`.
"""

from mlplatform.config.base import (
    DNS_LABEL,
    ENVIRONMENTS,
    NAMESPACE,
    ConfigError,
    Model,
    ModelVersionRef,
    PathError,
    Quantity,
    WorkloadNamespace,
    format_path,
)
from mlplatform.config.experiments import Experiment
from mlplatform.config.infra import (
    Bucket,
    Buckets,
    Cluster,
    DeployRunners,
    Network,
    NodePool,
    Observability,
    Operators,
    Seldon,
    TrainingOperator,
    ZoneSubnet,
)
from mlplatform.config.loading import load, parse, read, read_program
from mlplatform.config.reading import Reading
from mlplatform.config.stack import StackConfig
from mlplatform.config.teams import DEFAULT_TEAM, ContainerDefaults, EgressRule, Quota, Team, TeamNetwork
from mlplatform.config.workloads import (
    SERVER_PROTOCOLS,
    SERVERS,
    Autoscaling,
    Batching,
    HeaderRoute,
    Notebook,
    NotebookSso,
    Predictor,
    Promotion,
    Replica,
    Resources,
    Serving,
    TrainingJob,
    WebService,
)
from mlplatform.rules import FRAMEWORK_ROLES

__all__ = [
    "DEFAULT_TEAM",
    "DNS_LABEL",
    "ENVIRONMENTS",
    "FRAMEWORK_ROLES",
    "NAMESPACE",
    "SERVERS",
    "SERVER_PROTOCOLS",
    "Autoscaling",
    "Batching",
    "Bucket",
    "Buckets",
    "Cluster",
    "ConfigError",
    "ContainerDefaults",
    "DeployRunners",
    "EgressRule",
    "Experiment",
    "HeaderRoute",
    "Model",
    "ModelVersionRef",
    "Network",
    "NodePool",
    "Notebook",
    "NotebookSso",
    "Observability",
    "Operators",
    "PathError",
    "Predictor",
    "Promotion",
    "Quantity",
    "Quota",
    "Reading",
    "Replica",
    "Resources",
    "Seldon",
    "Serving",
    "StackConfig",
    "Team",
    "TeamNetwork",
    "TrainingJob",
    "TrainingOperator",
    "WebService",
    "WorkloadNamespace",
    "ZoneSubnet",
    "format_path",
    "load",
    "parse",
    "read",
    "read_program",
]
