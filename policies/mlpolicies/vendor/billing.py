"""What each kind of planned resource bills, priced from the catalog: one `Line` per billable resource.

Node pools are a range from their minimum size at the cheapest price (spot at its deepest documented
discount) to their maximum size at the dearest on-demand price; fixed fees are the same at both ends;
buckets and logs are priced at the sizes the stack's `costBasis` output expects. What the catalog has no
price for is named in the line's `unpriced`, never counted as zero.

Standard library only, like `pricing.py`: the policy pack carries a byte-identical copy
(`policies/mlpolicies/vendor/billing.py`, checked by `tests/test_vendored.py`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from typing import Any

PLATFORM = "platform"  # the group of shared infrastructure (teams come with issue #12)


@dataclass
class Line:
    """One billable thing of the plan: its monthly range and where each price came from."""

    name: str  # the resource's name in the plan
    kind: str  # "node pool", "cluster fee", "NAT gateway", ...
    detail: str  # what is billed, in words: "1..6 x ecs.gn7i-c8g1.2xlarge, spot"
    group: str = PLATFORM  # "platform", or "<namespace>/<workload>"
    low: float = 0.0
    high: float = 0.0
    prices: list[dict] = field(default_factory=list)  # {"item", "usd", "per", "source", "readOn"}
    unpriced: list[str] = field(default_factory=list)  # what has no price, named
    urn: str = ""

    @property
    def priced(self) -> bool:
        return bool(self.prices)

    def as_json(self) -> dict:
        return {
            "name": self.name,
            "kind": self.kind,
            "detail": self.detail,
            "group": self.group,
            "monthly": {"min": round(self.low, 2), "max": round(self.high, 2)} if self.priced else None,
            "prices": self.prices,
            "unpriced": self.unpriced,
            "urn": self.urn,
        }


# ---------------------------------------------------------------- reading the plan


def number(value: Any) -> float | None:
    """A number from the plan; None for anything else (an unknown during preview, a missing value)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def props_of(record: dict) -> dict:
    props = record.get("inputs") or record.get("outputs") or {}
    return props if isinstance(props, dict) else {}


def _name(record: dict) -> str:
    return str(record.get("urn", "")).split("::")[-1]


def _dig(node: Any, *path: Any) -> Any:
    for key in path:
        if isinstance(node, dict):
            node = node.get(key)
        elif isinstance(node, list) and isinstance(key, int) and -len(node) <= key < len(node):
            node = node[key]
        else:
            return None
    return node


def region_from_zones(resources: list[dict]) -> str:
    """The region of the plan's own subnets (`cn-hangzhou-i` -> cn-hangzhou, `us-west-2a` -> us-west-2)."""
    for record in resources:
        props = props_of(record)
        zone = props.get("zoneId") or props.get("availabilityZone")
        if isinstance(zone, str) and zone:
            return zone.rsplit("-", 1)[0] if record.get("type", "").startswith("alicloud:") else zone[:-1]
    return ""


def cloud_of(resources: list[dict]) -> str:
    for record in resources:
        package = str(record.get("type", "")).split(":")[0]
        if package in ("alicloud", "aws"):
            return package
    return ""


_CPU = re.compile(r"^([0-9.]+)(m?)$")
_SIZE = re.compile(r"^([0-9.]+)([KMGTPE]i?|k)?$")
_SIZE_FACTOR = {"": 1, "k": 1e3, "K": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15, "E": 1e18}


def _cores(value: Any) -> float:
    match = _CPU.match(str(value)) if value is not None else None
    if not match:
        return 0.0
    return float(match[1]) / (1000 if match[2] else 1)


def _gib(value: Any) -> float:
    match = _SIZE.match(str(value)) if value is not None else None
    if not match:
        return 0.0
    unit = match[2] or ""
    factor = 2 ** (10 * ("KMGTPE".index(unit[0]) + 1)) if unit.endswith("i") else _SIZE_FACTOR[unit]
    return float(match[1]) * factor / 2**30


# ---------------------------------------------------------------- the catalog


class Prices:
    def __init__(self, catalog: dict, cloud: str, region: str):
        self.catalog = catalog
        self.cloud = cloud
        self.region = region
        self.hours = int(catalog["hoursPerMonth"])

    def entry(self, kind: str, key: str) -> dict | None:
        entry = self.catalog["prices"].get(self.cloud, {}).get(kind, {}).get(key)
        if entry is None:
            return None
        regions = entry.get("regions", "*")
        return entry if regions == "*" or self.region in regions else None

    def instance(self, instance_type: str) -> dict | None:
        """The on-demand price of `instance_type` in this region, as a price entry."""
        table = self.catalog["prices"].get(self.cloud, {}).get("instance", {}).get(self.region)
        if not table or instance_type not in table["usd"]:
            return None
        return {**table, "usd": table["usd"][instance_type]}

    def why_unpriced(self, kind: str) -> str:
        return self.catalog.get("unpriced", {}).get(f"{self.cloud}:{kind}", "not in the price catalog")

    @staticmethod
    def cite(item: str, entry: dict) -> dict:
        cited = {"item": item, "per": entry.get("per")}
        if "usd" in entry:
            cited["usd"] = entry["usd"]
        else:
            cited.update({"low": entry["low"], "high": entry["high"]})
        return {**cited, "source": entry["source"], "readOn": entry["readOn"]}


# ---------------------------------------------------------------- pricing each kind of resource


def _node_pool(line: Line, prices: Prices, types: list, low_nodes: Any, high_nodes: Any, spot: bool) -> Line:
    low_count, high_count = number(low_nodes), number(high_nodes)
    if low_count is None or high_count is None:
        line.unpriced.append("pool size unknown until apply")
        return line
    known = []
    for instance_type in types:
        entry = prices.instance(str(instance_type))
        if entry is None:
            line.unpriced.append(
                f"{'spot and ' if spot else ''}on-demand price of {instance_type} in {prices.region or 'its region'} "
                f"({prices.why_unpriced('instance')})"
            )
        else:
            known.append(entry["usd"])
            line.prices.append(prices.cite(f"{instance_type} on-demand", entry))
    if not known or len(known) < len(types):
        return line  # a pool may run any of its types: a partial price would understate it
    factor = 1.0
    if spot:
        spot_entry = prices.entry("spotFactor", "range")
        if spot_entry is None:
            line.unpriced.append(f"spot discount ({prices.why_unpriced('spot')})")
        else:
            factor = float(spot_entry["low"])
            line.prices.append(prices.cite("spot price as a share of on-demand", spot_entry))
    line.low = low_count * min(known) * factor * prices.hours
    line.high = high_count * max(known) * prices.hours
    return line


def _fixed(line: Line, prices: Prices, kind: str, key: str, item: str, missing: str) -> Line:
    entry = prices.entry(kind, key)
    if entry is None:
        line.unpriced.append(missing)
        return line
    line.prices.append(prices.cite(item, entry))
    line.low += entry["usd"] * prices.hours
    line.high += entry["usd"] * prices.hours
    return line


def _per_unit(line: Line, prices: Prices, kind: str, key: str, item: str, amount: float | None, what: str) -> Line:
    entry = prices.entry(kind, key)
    if amount is None:
        line.unpriced.append(f"{what} unknown: set it in ml-platform:costAssumptions")
    elif entry is None:
        line.unpriced.append(f"{item} ({prices.why_unpriced(kind)})")
    else:
        line.prices.append(prices.cite(item, entry))
        line.low += entry["usd"] * amount
        line.high += entry["usd"] * amount
    return line


def _eks_fee(line: Line, prices: Prices, version: Any, today: date) -> Line:
    calendar = prices.catalog.get("eksStandardSupportEnds", {})
    minor = ".".join(str(version).split(".")[:2])
    ends = calendar.get("versions", {}).get(minor)
    standard, extended = prices.entry("clusterFee", "standard"), prices.entry("clusterFee", "extended")
    if standard is None or extended is None:
        line.unpriced.append(f"EKS cluster fee ({prices.why_unpriced('clusterFee')})")
        return line
    if ends is None:
        low, high = standard, extended
        line.detail += f"; Kubernetes {minor} is not in the release calendar: standard to extended support"
        line.prices += [prices.cite("EKS standard support", standard), prices.cite("EKS extended support", extended)]
    else:
        chosen = extended if today >= date.fromisoformat(ends) else standard
        low = high = chosen
        support = "extended" if chosen is extended else "standard"
        line.detail += f"; Kubernetes {minor} in {support} support (standard support ends {ends})"
        line.prices.append(prices.cite(f"EKS {support} support", chosen))
        line.prices.append(
            {
                "item": "EKS release calendar",
                "source": calendar["source"],
                "readOn": calendar["readOn"],
            }
        )
    line.low += low["usd"] * prices.hours
    line.high += high["usd"] * prices.hours
    return line


def _has_load_balancer(value: Any) -> bool:
    """A Helm release's values that ask for a LoadBalancer Service anywhere (the ingress charts do)."""
    if isinstance(value, dict):
        return value.get("type") == "LoadBalancer" or any(_has_load_balancer(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_load_balancer(v) for v in value)
    return False


# Pod templates of the workload kinds the platform renders: (replicas low, replicas high, pod spec) per template.
def _pod_templates(kind: str, props: dict) -> list[tuple[float, float, dict]]:
    spec = props.get("spec") if isinstance(props.get("spec"), dict) else {}
    found = []
    if kind == "Deployment":
        replicas = number(spec.get("replicas", 1)) or 0.0
        found.append((replicas, replicas, _dig(spec, "template", "spec") or {}))
    elif kind == "SeldonDeployment":
        for predictor in spec.get("predictors") or []:
            if not isinstance(predictor, dict):
                continue
            replicas = number(predictor.get("replicas", 1)) or 0.0
            for component in predictor.get("componentSpecs") or [{}]:
                hpa = component.get("hpaSpec") if isinstance(component, dict) else None
                low = number(_dig(hpa, "minReplicas")) if hpa else None
                high = number(_dig(hpa, "maxReplicas")) if hpa else None
                pod = _dig(component, "spec") or {}
                found.append((low if low is not None else replicas, high if high is not None else replicas, pod))
    elif kind == "Notebook":
        found.append((1.0, 1.0, _dig(spec, "template", "spec") or {}))
    elif kind.endswith("Job"):
        for key, roles in spec.items():
            if key.endswith("ReplicaSpecs") and isinstance(roles, dict):
                for role in roles.values():
                    replicas = number(_dig(role, "replicas")) or 1.0
                    found.append((replicas, replicas, _dig(role, "template", "spec") or {}))
    return found


def _serverless_pods(line: Line, prices: Prices, kind: str, props: dict, basis: dict) -> Line | None:
    templates = _pod_templates(kind, props)
    if not templates:
        return None
    cores = [0.0, 0.0]
    memory = [0.0, 0.0]
    for low, high, pod in templates:
        containers = [c for c in (pod.get("containers") or []) if isinstance(c, dict)]
        pod_cores = sum(_cores(_dig(c, "resources", "requests", "cpu")) for c in containers)
        pod_memory = sum(_gib(_dig(c, "resources", "requests", "memory")) for c in containers)
        cores = [cores[0] + low * pod_cores, cores[1] + high * pod_cores]
        memory = [memory[0] + low * pod_memory, memory[1] + high * pod_memory]
    hours = "until done" if kind.endswith("Job") else "all month"
    line.detail = f"{kind} pods: {_range(cores)} vCPU, {_range(memory)} GiB requested, {hours}" + (
        f" (costed at {basis.get('trainingHoursPerMonth', '?')} h a month)" if kind.endswith("Job") else ""
    )
    line.unpriced.append(f"serverless pod vCPU and GiB prices ({prices.why_unpriced('pods')})")
    return line


def _range(pair: list[float]) -> str:
    low, high = (f"{value:g}" for value in (round(pair[0], 2), round(pair[1], 2)))
    return low if low == high else f"{low}..{high}"


def line_of(
    record: dict, prices: Prices, basis: dict, storage: dict, serverless: set[str] | None, today: date
) -> Line | None:
    kind, props, name = str(record.get("type", "")), props_of(record), _name(record)
    if kind == "alicloud:cs/nodePool:NodePool":
        types = list(props.get("instanceTypes") or [])
        scaling = props.get("scalingConfig") or {}
        spot = props.get("spotStrategy", "NoSpot") not in ("NoSpot", None)
        line = Line(name, "node pool", _pool_detail(types, scaling, spot))
        return _node_pool(line, prices, types, scaling.get("minSize"), scaling.get("maxSize"), spot)
    if kind == "aws:eks/nodeGroup:NodeGroup":
        types = list(props.get("instanceTypes") or [])
        scaling = props.get("scalingConfig") or {}
        spot = props.get("capacityType") == "SPOT"
        line = Line(name, "node pool", _pool_detail(types, scaling, spot))
        return _node_pool(line, prices, types, scaling.get("minSize"), scaling.get("maxSize"), spot)
    if kind == "kubernetes:karpenter.sh/v1:NodePool":
        return _karpenter_pool(name, prices, props)
    if kind == "alicloud:cs/managedKubernetes:ManagedKubernetes":
        spec = props.get("clusterSpec", "ack.standard")
        line = Line(name, "cluster fee", f"ACK managed cluster ({spec})")
        if spec == "ack.standard":
            line.detail += ": ACK managed Basic clusters have no management fee"
        else:
            _fixed(line, prices, "clusterFee", f"managed:{spec}", f"ACK {spec} management fee", f"{spec} fee")
        line.unpriced.append(f"the API server's CLB ({prices.why_unpriced('loadBalancer')})")
        return _with_nat(line, prices, props)
    if kind == "alicloud:cs/serverlessKubernetes:ServerlessKubernetes":
        spec = props.get("clusterSpec", "ack.standard")
        line = Line(name, "cluster fee", f"ACK Serverless cluster ({spec})")
        if spec != "ack.standard":
            _fixed(line, prices, "clusterFee", f"serverless:{spec}", f"ACK Serverless {spec} fee", f"{spec} fee")
        return _with_nat(line, prices, props)
    if kind == "alicloud:cs/edgeKubernetes:EdgeKubernetes":
        types = list(props.get("workerInstanceTypes") or [])
        workers = props.get("workerNumber")
        line = Line(name, "cluster", f"ACK@Edge cluster with {workers} cloud worker(s) of {' | '.join(types)}")
        line.unpriced.append(f"ACK Edge management fee ({prices.why_unpriced('edgeFee')})")
        _node_pool(line, prices, types, workers, workers, False)
        return _with_nat(line, prices, props)
    if kind == "aws:eks/cluster:Cluster":
        line = Line(name, "cluster fee", "Amazon EKS control plane")
        return _eks_fee(line, prices, props.get("version"), today)
    if kind in ("alicloud:oss/bucket:Bucket", "aws:s3/bucket:Bucket", "aws:s3/bucketV2:BucketV2"):
        bucket = props.get("bucket") or name
        amount = number(storage.get(bucket))
        line = Line(name, "bucket storage", f"{_gb(amount)} expected (ml-platform:costAssumptions.storageGb)")
        if kind.startswith("alicloud"):
            return _per_unit(line, prices, "objectStorage", "standard", "OSS Standard GB-month", amount, "size")
        return _per_unit(line, prices, "objectStorage", "standard", "S3 Standard GB-month", amount, "size")
    if kind in ("alicloud:log/store:Store", "aws:cloudwatch/logGroup:LogGroup"):
        amount = number(basis.get("logGbPerMonth"))
        line = Line(name, "log ingestion", f"{_gb(amount)} of logs written a month (ml-platform:costAssumptions)")
        return _per_unit(line, prices, "logIngestion", "write", "log ingestion per GB", amount, "log volume")
    if kind in ("alicloud:arms/prometheus:Prometheus", "aws:amp/workspace:Workspace"):
        line = Line(name, "metrics", "managed Prometheus")
        line.unpriced.append(f"managed Prometheus usage ({prices.why_unpriced('prometheus')})")
        return line
    if kind == "kubernetes:core/v1:Service" and _dig(props, "spec", "type") == "LoadBalancer":
        return _load_balancer(name, prices, props, "Service")
    if kind == "kubernetes:helm.sh/v3:Release" and _has_load_balancer(props.get("values")):
        return _load_balancer(name, prices, props, f"chart {props.get('chart', '?')}")
    if serverless is not None and kind.startswith("kubernetes:") and not kind.startswith("kubernetes:core/"):
        namespace = _dig(props, "metadata", "namespace") or "default"
        if "*" not in serverless and namespace not in serverless:
            return None
        workload = _dig(props, "metadata", "name") or name
        line = Line(name, "serverless pods", "", group=f"{namespace}/{workload}")
        return _serverless_pods(line, prices, str(props.get("kind", "")), props, basis)
    return None


def _karpenter_pool(name: str, prices: Prices, props: dict) -> Line:
    """A Karpenter NodePool: its instance-type and capacity-type requirements, 0 (or `replicas`) to `limits.nodes`."""
    spec = props.get("spec") if isinstance(props.get("spec"), dict) else {}
    requirements = {
        r.get("key"): [str(v) for v in r.get("values") or []]
        for r in _dig(spec, "template", "spec", "requirements") or []
        if isinstance(r, dict) and r.get("operator") == "In"
    }
    types = requirements.get("node.kubernetes.io/instance-type", [])
    spot = "spot" in requirements.get("karpenter.sh/capacity-type", ["on-demand"])
    low, high = spec.get("replicas", 0), _dig(spec, "limits", "nodes")
    line = Line(name, "node pool", _pool_detail(types, {"minSize": low, "maxSize": high}, spot) + " (Karpenter)")
    if not types:
        line.unpriced.append("any instance type Karpenter picks (the pool names none)")
        return line
    if high is None:
        line.unpriced.append("no limits.nodes: the pool has no maximum to price")
        return line
    return _node_pool(line, prices, types, low, high, spot)


def _with_nat(line: Line, prices: Prices, props: dict) -> Line:
    if props.get("newNatGateway"):
        line.detail += " with a new Internet NAT gateway"
        _fixed(
            line,
            prices,
            "natGateway",
            "internet",
            "Internet NAT gateway instance fee",
            f"Internet NAT gateway in {prices.region or 'its region'} (not in the price catalog)",
        )
        line.unpriced.append("NAT gateway capacity units (they follow traffic)")
    return line


def _load_balancer(name: str, prices: Prices, props: dict, what: str) -> Line:
    line = Line(name, "load balancer", f"a LoadBalancer Service ({what})")
    line.unpriced.append(f"load balancer fees ({prices.why_unpriced('loadBalancer')})")
    return line


def _pool_detail(types: list, scaling: dict, spot: bool) -> str:
    sizes = f"{scaling.get('minSize', '?')}..{scaling.get('maxSize', '?')}"
    return f"{sizes} x {' | '.join(str(t) for t in types)}{', spot' if spot else ', on-demand'}"


def _gb(amount: float | None) -> str:
    return "? GB" if amount is None else f"{amount:g} GB"
