"""What each kind of planned resource bills, priced from the catalog: one `Line` per billable resource.

Node pools are a range from their minimum size at the cheapest price (spot at its deepest documented
discount) to their maximum size at the dearest on-demand price; fixed fees are the same at both ends;
buckets and logs are priced at the sizes the stack's `costBasis` output expects. What the catalog has no
price for is named in the line's `unpriced` (a `Missing`, with the price key that
`ml-platform:costAssumptions.prices` takes), never counted as zero; fees that follow traffic or usage
(capacity units, data processed, custom metrics) are named in the line's `usage`, not estimated.

A price is looked up by its key (`instance/<type>`, `<kind>/<name>` as in `prices.json`): live prices first
(read from the clouds' price APIs by `mlp cost --live`, cached with their date), then the shipped catalog, then
the prices the stack's config supplies.

Standard library only, like `pricing.py`: the policy pack carries a byte-identical copy
(`policies/mlpolicies/vendor/billing.py`, checked by `tests/test_vendored.py`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from .plan import cpu_cores, dig, gib, has_load_balancer, name_of, number, pod_templates, props_of, span_of

PLATFORM = "platform"  # the group of shared infrastructure (teams come with issue #12)


@dataclass(frozen=True)
class Missing:
    """A price (or a quantity) the estimate lacks: what, why, and the key a price is supplied under."""

    item: str  # "on-demand price of ecs.g7.xlarge in cn-hangzhou"
    why: str
    key: str = ""  # "instance/ecs.g7.xlarge": the key of ml-platform:costAssumptions.prices; "" for a quantity

    def __str__(self) -> str:
        return f"{self.item} ({self.why})"

    def as_json(self) -> dict:
        return {"item": self.item, "why": self.why, "key": self.key}


@dataclass
class Line:
    """One billable thing of the plan: its monthly range and where each price came from."""

    name: str  # the resource's name in the plan
    kind: str  # "node pool", "cluster fee", "NAT gateway", ...
    detail: str  # what is billed, in words: "1..6 x ecs.gn7i-c8g1.2xlarge, spot"
    group: str = PLATFORM  # "platform", or "<namespace>/<workload>"
    low: float = 0.0
    high: float = 0.0
    prices: list[dict] = field(default_factory=list)  # {"item", "usd", "per", "source", "readOn", "origin"}
    unpriced: list[Missing] = field(default_factory=list)  # what has no price, named
    usage: list[str] = field(default_factory=list)  # fees that follow traffic or usage: named, not estimated
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
            "unpriced": [missing.as_json() for missing in self.unpriced],
            "usage": self.usage,
            "urn": self.urn,
        }


# ---------------------------------------------------------------- the catalog


class Prices:
    """Prices by key (`instance/<type>`, `<kind>/<name>`): live, then the catalog, then the stack's supplied ones."""

    def __init__(self, catalog: dict, cloud: str, region: str, supplied: dict | None = None, live: dict | None = None):
        self.catalog = catalog
        self.cloud = cloud
        self.region = region
        self.hours = int(catalog["hoursPerMonth"])
        self.supplied = supplied if isinstance(supplied, dict) else {}  # key -> {usd, per, source, readOn}
        self.live = live if isinstance(live, dict) else {}  # key -> {usd, per, source, readOn}

    def _catalog(self, key: str) -> dict | None:
        kind, _, name = key.partition("/")
        table = self.catalog["prices"].get(self.cloud, {}).get(kind, {})
        if kind == "instance":
            prices = table.get(self.region)
            return {**prices, "usd": prices["usd"][name]} if prices and name in prices["usd"] else None
        entry = table.get(name)
        if entry is None:
            return None
        regions = entry.get("regions", "*")
        return entry if regions == "*" or self.region in regions else None

    def lookup(self, key: str) -> dict | None:
        """The price under `key` with its `origin` ("live", "catalog", "assumption"), or None."""
        for origin, found in (
            ("live", self.live.get(key)),
            ("catalog", self._catalog(key)),
            ("assumption", self.supplied.get(key)),
        ):
            if isinstance(found, dict) and ("usd" in found or "low" in found):
                return {**found, "origin": origin}
        return None

    def missing(self, key: str, item: str) -> Missing:
        kind = key.partition("/")[0]
        why = self.catalog.get("unpriced", {}).get(f"{self.cloud}:{kind}", "not in the price catalog")
        return Missing(item, why, key)

    @staticmethod
    def cite(item: str, entry: dict) -> dict:
        cited = {"item": item, "per": entry.get("per")}
        if "usd" in entry:
            cited["usd"] = entry["usd"]
        else:
            cited.update({"low": entry["low"], "high": entry["high"]})
        read = entry.get("readOn") or "no date given"
        return {**cited, "source": entry["source"], "readOn": read, "origin": entry["origin"]}


# ---------------------------------------------------------------- pricing each kind of resource


def _node_pool(line: Line, prices: Prices, types: list, low_nodes: Any, high_nodes: Any, spot: bool) -> Line:
    low_count, high_count = number(low_nodes), number(high_nodes)
    if low_count is None or high_count is None:
        line.unpriced.append(Missing("pool size", "unknown until apply"))
        return line
    known = []
    for instance_type in types:
        key = f"instance/{instance_type}"
        entry = prices.lookup(key)
        if entry is None:
            where = prices.region or "its region"
            line.unpriced.append(prices.missing(key, f"on-demand price of {instance_type} in {where}"))
        else:
            known.append(float(entry["usd"]))
            line.prices.append(prices.cite(f"{instance_type} on-demand", entry))
    if not known or len(known) < len(types):
        return line  # a pool may run any of its types: a partial price would understate it
    low_factor = high_factor = 1.0
    if spot:
        spot_entry = prices.lookup("spotFactor/range")
        if spot_entry is None:
            line.unpriced.append(prices.missing("spotFactor/range", "spot price as a share of on-demand"))
            return line
        low_factor, high_factor = float(spot_entry["low"]), float(spot_entry["high"])
        line.prices.append(prices.cite("spot price as a share of on-demand", spot_entry))
    line.low = low_count * min(known) * low_factor * prices.hours
    line.high = high_count * max(known) * high_factor * prices.hours
    return line


def _fixed(line: Line, prices: Prices, key: str, item: str, count: float = 1.0) -> Line:
    entry = prices.lookup(key)
    if entry is None:
        line.unpriced.append(prices.missing(key, f"{item} in {prices.region or 'its region'}"))
        return line
    line.prices.append(prices.cite(item, entry))
    line.low += count * float(entry["usd"]) * prices.hours
    line.high += count * float(entry["usd"]) * prices.hours
    return line


def _per_unit(line: Line, prices: Prices, key: str, item: str, amount: float | None, what: str) -> Line:
    entry = prices.lookup(key)
    if amount is None:
        line.unpriced.append(Missing(what, "unknown: set it in ml-platform:costAssumptions"))
    elif entry is None:
        line.unpriced.append(prices.missing(key, f"{item} in {prices.region or 'its region'}"))
    else:
        line.prices.append(prices.cite(item, entry))
        line.low += float(entry["usd"]) * amount
        line.high += float(entry["usd"]) * amount
    return line


def _eks_fee(line: Line, prices: Prices, version: Any, today: date) -> Line:
    calendar = prices.catalog.get("eksStandardSupportEnds", {})
    minor = ".".join(str(version).split(".")[:2])
    ends = calendar.get("versions", {}).get(minor)
    standard, extended = prices.lookup("clusterFee/standard"), prices.lookup("clusterFee/extended")
    if standard is None or extended is None:
        line.unpriced.append(prices.missing("clusterFee/standard", "EKS cluster fee"))
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
                "origin": "catalog",
            }
        )
    line.low += float(low["usd"]) * prices.hours
    line.high += float(high["usd"]) * prices.hours
    return line


def _serverless_pods(line: Line, prices: Prices, kind: str, props: dict, basis: dict) -> Line | None:
    templates = pod_templates(kind, props)
    if not templates:
        return None
    cores = [0.0, 0.0]
    memory = [0.0, 0.0]
    for low, high, pod in templates:
        containers = [c for c in (pod.get("containers") or []) if isinstance(c, dict)]
        pod_cores = sum(cpu_cores(dig(c, "resources", "requests", "cpu")) for c in containers)
        pod_memory = sum(gib(dig(c, "resources", "requests", "memory")) for c in containers)
        cores = [cores[0] + low * pod_cores, cores[1] + high * pod_cores]
        memory = [memory[0] + low * pod_memory, memory[1] + high * pod_memory]
    hours = "until done" if kind.endswith("Job") else "all month"
    line.detail = f"{kind} pods: {span_of(cores)} vCPU, {span_of(memory)} GiB requested, {hours}" + (
        f" (costed at {basis.get('trainingHoursPerMonth', '?')} h a month)" if kind.endswith("Job") else ""
    )
    line.unpriced.append(prices.missing("pods/vcpu", "serverless pod vCPU and GiB prices"))
    return line


# Resources billed a fee by the hour: type -> (line kind, what, price key, priced item, what follows usage).
FIXED_FEES = {
    "aws:ec2/natGateway:NatGateway": (
        "NAT gateway",
        "NAT gateway hours",
        "natGateway/managed",
        "NAT gateway hourly charge",
        "NAT gateway data processed per GB",
    ),
    "aws:ec2/eip:Eip": ("public IPv4", "an Elastic IP address", "publicIpv4/address", "public IPv4 address", ""),
    "alicloud:arms/prometheus:Prometheus": (
        "metrics",
        "Managed Service for Prometheus: basic metrics",
        "prometheus/basic",
        "basic metrics of a Kubernetes cluster",
        "custom metrics, billed by the data reported",
    ),
    "aws:amp/workspace:Workspace": (
        "metrics",
        "Amazon Managed Service for Prometheus workspace",
        "prometheus/workspace",
        "workspace (no fixed fee)",
        "metric samples ingested, query samples and storage",
    ),
    "aws:amp/scraper:Scraper": ("metrics", "managed Prometheus scraper", "prometheus/scraper", "scraper hours", ""),
}


def line_of(
    record: dict, prices: Prices, basis: dict, storage: dict, serverless: set[str] | None, today: date
) -> Line | None:
    kind, props, name = str(record.get("type", "")), props_of(record), name_of(record)
    if kind in ("alicloud:cs/nodePool:NodePool", "aws:eks/nodeGroup:NodeGroup"):
        types = list(props.get("instanceTypes") or [])
        scaling = props.get("scalingConfig") or {}
        if kind.startswith("alicloud"):
            spot = props.get("spotStrategy", "NoSpot") not in ("NoSpot", None)
        else:
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
            _fixed(line, prices, f"clusterFee/managed:{spec}", f"ACK {spec} management fee")
        line.detail += "; the API server's CLB"
        _fixed(line, prices, "loadBalancer/clb", "CLB instance fee")
        line.usage.append("the API server CLB's capacity units (LCU)")
        return _with_nat(line, prices, props)
    if kind == "alicloud:cs/serverlessKubernetes:ServerlessKubernetes":
        spec = props.get("clusterSpec", "ack.standard")
        line = Line(name, "cluster fee", f"ACK Serverless cluster ({spec})")
        if spec != "ack.standard":
            _fixed(line, prices, f"clusterFee/serverless:{spec}", f"ACK Serverless {spec} fee")
        return _with_nat(line, prices, props)
    if kind == "alicloud:cs/edgeKubernetes:EdgeKubernetes":
        types = list(props.get("workerInstanceTypes") or [])
        workers = props.get("workerNumber")
        line = Line(name, "cluster", f"ACK@Edge cluster with {workers} cloud worker(s) of {' | '.join(types)}")
        line.unpriced.append(prices.missing("edgeFee/managed", "ACK Edge management fee"))
        _node_pool(line, prices, types, workers, workers, False)
        return _with_nat(line, prices, props)
    if kind == "aws:eks/cluster:Cluster":
        line = Line(name, "cluster fee", "Amazon EKS control plane")
        return _eks_fee(line, prices, props.get("version"), today)
    if kind in FIXED_FEES:
        line_kind, detail, key, item, usage = FIXED_FEES[kind]
        line = Line(name, line_kind, detail, usage=[usage] if usage else [])
        return _fixed(line, prices, key, item)
    if kind in ("alicloud:oss/bucket:Bucket", "aws:s3/bucket:Bucket", "aws:s3/bucketV2:BucketV2"):
        bucket = props.get("bucket") or name
        amount = number(storage.get(bucket))
        line = Line(name, "bucket storage", f"{_gb(amount)} expected (ml-platform:costAssumptions.storageGb)")
        line.usage.append("requests and data transfer")
        item = "OSS Standard GB-month" if kind.startswith("alicloud") else "S3 Standard GB-month"
        return _per_unit(line, prices, "objectStorage/standard", item, amount, "bucket size")
    if kind in ("alicloud:log/store:Store", "aws:cloudwatch/logGroup:LogGroup"):
        amount = number(basis.get("logGbPerMonth"))
        line = Line(name, "log ingestion", f"{_gb(amount)} of logs written a month (ml-platform:costAssumptions)")
        return _per_unit(line, prices, "logIngestion/write", "log ingestion per GB", amount, "log volume")
    if kind == "kubernetes:core/v1:Service" and dig(props, "spec", "type") == "LoadBalancer":
        return _load_balancer(name, prices, props, "Service")
    if kind == "kubernetes:helm.sh/v3:Release" and has_load_balancer(props.get("values")):
        return _load_balancer(name, prices, {}, f"chart {props.get('chart', '?')}")
    if serverless is not None and kind.startswith("kubernetes:") and not kind.startswith("kubernetes:core/"):
        namespace = dig(props, "metadata", "namespace") or "default"
        if "*" not in serverless and namespace not in serverless:
            return None
        workload = dig(props, "metadata", "name") or name
        line = Line(name, "serverless pods", "", group=f"{namespace}/{workload}")
        return _serverless_pods(line, prices, str(props.get("kind", "")), props, basis)
    return None


def _karpenter_pool(name: str, prices: Prices, props: dict) -> Line:
    """A Karpenter NodePool: the price range over its instance-type requirement, 0 (or `replicas`) to `limits.nodes`.

    Spot when its capacity-type requirement allows spot (Karpenter prefers it when both are allowed).
    """
    spec = props.get("spec") if isinstance(props.get("spec"), dict) else {}
    requirements = {
        r.get("key"): [str(v) for v in r.get("values") or []]
        for r in dig(spec, "template", "spec", "requirements") or []
        if isinstance(r, dict) and r.get("operator") == "In"
    }
    types = requirements.get("node.kubernetes.io/instance-type", [])
    spot = "spot" in requirements.get("karpenter.sh/capacity-type", ["on-demand"])
    low, high = spec.get("replicas", 0), dig(spec, "limits", "nodes")
    line = Line(name, "node pool", _pool_detail(types, {"minSize": low, "maxSize": high}, spot) + " (Karpenter)")
    if not types:
        line.unpriced.append(Missing("instance types", "the pool names none: any type Karpenter picks"))
        return line
    if high is None:
        line.unpriced.append(Missing("pool size", "no limits.nodes: the pool has no maximum to price"))
        return line
    return _node_pool(line, prices, types, low, high, spot)


def _with_nat(line: Line, prices: Prices, props: dict) -> Line:
    if props.get("newNatGateway"):
        line.detail += " with a new Internet NAT gateway"
        _fixed(line, prices, "natGateway/internet", "Internet NAT gateway instance fee")
        line.usage.append("NAT gateway capacity units (CU)")
    return line


# The load balancer a LoadBalancer Service gets: Alibaba Cloud's CCM makes a CLB unless the Service asks for an NLB
# (`loadBalancerClass: alibabacloud.com/nlb`); AWS's in-tree controller a Classic Load Balancer unless annotated nlb.
NLB_CLASS = "alibabacloud.com/nlb"
AWS_LB_TYPE = "service.beta.kubernetes.io/aws-load-balancer-type"


def _load_balancer(name: str, prices: Prices, props: dict, what: str) -> Line:
    annotations = dig(props, "metadata", "annotations") or {}
    if prices.cloud == "aws":
        key, kind = (
            ("loadBalancer/network", "NLB")
            if annotations.get(AWS_LB_TYPE) == "nlb"
            else ("loadBalancer/classic", "Classic Load Balancer")
        )
    else:
        key, kind = (
            ("loadBalancer/nlb", "NLB")
            if dig(props, "spec", "loadBalancerClass") == NLB_CLASS
            else ("loadBalancer/clb", "CLB")
        )
    line = Line(name, "load balancer", f"a {kind} for a LoadBalancer {what}")
    line.usage.append("capacity units and data processed")
    return _fixed(line, prices, key, f"{kind} instance fee")


def _pool_detail(types: list, scaling: dict, spot: bool) -> str:
    sizes = f"{scaling.get('minSize', '?')}..{scaling.get('maxSize', '?')}"
    return f"{sizes} x {' | '.join(str(t) for t in types)}{', spot' if spot else ', on-demand'}"


def _gb(amount: float | None) -> str:
    return "? GB" if amount is None else f"{amount:g} GB"
