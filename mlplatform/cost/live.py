"""Live prices: read now from the clouds' own price APIs where the user has credentials, cached with their date.

- AWS: the Price List Query API, `pricing:GetProducts` through boto3 (the API answers in us-east-1; each
  `PriceList` item is a JSON document whose `terms.OnDemand.*.priceDimensions.*.pricePerUnit.USD` is the hourly
  price), docs.aws.amazon.com/aws-cost-management/latest/APIReference/API_pricing_GetProducts.html.
- Alibaba Cloud: ECS `DescribePrice` (ResourceType=instance, PriceUnit=Hour) through the official SDK
  `alibabacloud_ecs20140526`; `PriceInfo.Price.OriginalPrice` is the list price in `Currency`,
  https://help.aliyun.com/document_detail/107829.html (TradePrice includes the account's discounts). A price in
  another currency than the catalog's is not used: converting would need a rate the API does not give.

Only on-demand instance prices are read live; the spot range and the other fees stay the catalog's. The
prices are written to the user cache (`$MLP_PRICE_CACHE`, else `$XDG_CACHE_HOME/mlplatform/prices`, else
`~/.cache/mlplatform/prices`), one file per cloud and region, with the day they were read; the program puts a
cache younger than the catalog's `liveMaxDays` into its `costBasis` output, so `mlp cost` and the policy
pack's `budget` policy price the plan alike. Offline, or with an old cache, the shipped catalog prices it.

Not standard library only (boto3, the Alibaba Cloud SDK, imported when prices are fetched), so the policy pack
does not vendor this module: the prices reach the pack as data, in `costBasis.livePrices`.
"""

from __future__ import annotations

import json
import os
from datetime import date, timedelta
from pathlib import Path
from typing import Any

CACHE_ENV = "MLP_PRICE_CACHE"
AWS_SOURCE = "https://api.pricing.us-east-1.amazonaws.com"  # pricing:GetProducts
AWS_CREDENTIALS = ("AWS_ACCESS_KEY_ID", "AWS_PROFILE", "AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE")
# What the Alibaba Cloud credentials chain (alibabacloud_credentials, the SDK's default) reads: the STS session
# `aliyun/configure-aliyun-credentials-action` exports in CI, or a RAM role to assume with an OIDC token.
ALICLOUD_CREDENTIALS = ("ALIBABA_CLOUD_ACCESS_KEY_ID", "ALIBABA_CLOUD_OIDC_TOKEN_FILE", "ALIBABA_CLOUD_CREDENTIALS_URI")
# The Price List's location names (the `location` attribute) of the regions the stacks use.
AWS_LOCATIONS = {
    "us-east-1": "US East (N. Virginia)",
    "us-east-2": "US East (Ohio)",
    "us-west-2": "US West (Oregon)",
    "eu-west-1": "Europe (Ireland)",
    "eu-central-1": "Europe (Frankfurt)",
    "ap-southeast-1": "Asia Pacific (Singapore)",
}


def cache_dir() -> Path:
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "mlplatform" / "prices"


def cache_path(cloud: str, region: str) -> Path:
    return cache_dir() / f"{cloud}-{region}.json"


def cached(cloud: str, region: str, today: date, max_days: int) -> dict[str, dict]:
    """The cached live prices of `cloud`/`region` read at most `max_days` ago (key -> entry), else nothing."""
    path = cache_path(cloud, region)
    if not cloud or not region or not path.is_file():
        return {}
    try:
        document = json.loads(path.read_text())
        read = date.fromisoformat(document["readOn"])
    except (ValueError, KeyError, TypeError):
        return {}  # a damaged cache is no price: the catalog prices the plan
    if today - read > timedelta(days=max_days):
        return {}
    return {key: entry for key, entry in document.get("prices", {}).items() if isinstance(entry, dict)}


def store(cloud: str, region: str, prices: dict[str, dict], today: date) -> Path:
    """Add `prices` to the cache of `cloud`/`region`, dated `today`."""
    path = cache_path(cloud, region)
    path.parent.mkdir(parents=True, exist_ok=True)
    document = {"cloud": cloud, "region": region, "readOn": today.isoformat(), "prices": prices}
    path.write_text(json.dumps(document, indent=2, sort_keys=True) + "\n")
    return path


def has_credentials(cloud: str, environ: dict | None = None) -> bool:
    """Are the cloud's credentials in the environment (as in CI, where a real `pulumi preview` runs)?"""
    environ = os.environ if environ is None else environ
    if cloud == "aws":
        return any(environ.get(name) for name in AWS_CREDENTIALS)
    if cloud == "alicloud":
        return any(environ.get(name) for name in ALICLOUD_CREDENTIALS)
    return False


def fetch(cloud: str, region: str, instance_types: list[str], today: date, client: Any = None) -> dict[str, dict]:
    """On-demand prices of `instance_types` from the cloud's price API (key `instance/<type>` -> entry)."""
    if cloud == "aws":
        return fetch_aws(instance_types, region, today, client or aws_client())
    if cloud == "alicloud":
        return fetch_alicloud(instance_types, region, today, client or alicloud_client(region))
    return {}


# ---------------------------------------------------------------- AWS


def aws_client() -> Any:
    import boto3

    return boto3.client("pricing", region_name="us-east-1")  # the Price List Query API's endpoint


def aws_filters(instance_type: str, region: str) -> list[dict]:
    """Linux, shared tenancy, no preinstalled software, a running instance (capacitystatus Used)."""
    values = {
        "instanceType": instance_type,
        "regionCode": region,
        "operatingSystem": "Linux",
        "tenancy": "Shared",
        "preInstalledSw": "NA",
        "capacitystatus": "Used",
    }
    return [{"Type": "TERM_MATCH", "Field": field, "Value": value} for field, value in values.items()]


def aws_on_demand(price_list: list[str]) -> float | None:
    """The hourly USD price of the On-Demand term in GetProducts' `PriceList` (JSON strings)."""
    for item in price_list:
        product = json.loads(item) if isinstance(item, str) else item
        for term in (product.get("terms", {}).get("OnDemand") or {}).values():
            for dimension in (term.get("priceDimensions") or {}).values():
                usd = dimension.get("pricePerUnit", {}).get("USD")
                if dimension.get("unit") == "Hrs" and usd is not None:
                    return float(usd)
    return None


def fetch_aws(instance_types: list[str], region: str, today: date, client: Any) -> dict[str, dict]:
    found = {}
    for instance_type in sorted(set(instance_types)):
        response = client.get_products(
            ServiceCode="AmazonEC2", Filters=aws_filters(instance_type, region), FormatVersion="aws_v1", MaxResults=10
        )
        usd = aws_on_demand(response.get("PriceList", []))
        if usd is not None:
            found[f"instance/{instance_type}"] = {
                "usd": usd,
                "per": "hour",
                "source": AWS_SOURCE,
                "readOn": today.isoformat(),
                "note": f"pricing:GetProducts AmazonEC2 {instance_type} {AWS_LOCATIONS.get(region, region)}, "
                "Linux, shared tenancy, On-Demand",
            }
    return found


# ---------------------------------------------------------------- Alibaba Cloud


def alicloud_client(region: str) -> Any:
    from alibabacloud_credentials.client import Client as Credentials
    from alibabacloud_ecs20140526.client import Client
    from alibabacloud_tea_openapi.models import Config

    config = Config(credential=Credentials(), region_id=region, endpoint=f"ecs.{region}.aliyuncs.com")
    return Client(config)


def fetch_alicloud(
    instance_types: list[str], region: str, today: date, client: Any, currency: str = "USD"
) -> dict[str, dict]:
    from alibabacloud_ecs20140526.models import DescribePriceRequest

    found = {}
    for instance_type in sorted(set(instance_types)):
        request = DescribePriceRequest(
            region_id=region, resource_type="instance", instance_type=instance_type, price_unit="Hour"
        )
        price = client.describe_price(request).body.price_info.price
        if price is None or price.original_price is None or price.currency != currency:
            continue  # another currency (a China-site account answers in CNY): not converted, not used
        found[f"instance/{instance_type}"] = {
            "usd": float(price.original_price),
            "per": "hour",
            "source": f"https://ecs.{region}.aliyuncs.com",
            "readOn": today.isoformat(),
            "note": f"ECS DescribePrice {instance_type} in {region}, pay-as-you-go list price (OriginalPrice)",
        }
    return found
