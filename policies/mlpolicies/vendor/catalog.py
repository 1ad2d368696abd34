"""The Kubernetes versions each cloud supports, with their end of support and where that is published.

Standard library only: the policy pack carries a byte-identical copy (`policies/mlpolicies/vendor/catalog.py`,
checked by `tests/test_vendored.py`), so config validation (refuses an unsupported version) and the pack
(advisory within `WARN_DAYS` of the end, mandatory past it) read one table. "Today" is the real date
unless `MLP_TODAY` (YYYY-MM-DD) says otherwise, which is how tests move the clock.
"""

from __future__ import annotations

import datetime
import os
import re
from typing import NamedTuple

WARN_DAYS = 90


class Release(NamedTuple):
    minor: str  # "1.35"
    end_of_support: datetime.date
    source: str
    # The exact versions the cloud accepts at cluster creation (ACK: x.y.z-aliyun.n); empty: the minor itself.
    versions: tuple[str, ...] = ()


ACK_VERSIONS = "https://www.alibabacloud.com/help/en/ack/product-overview/support-for-kubernetes-versions"
EKS_VERSIONS = "https://docs.aws.amazon.com/eks/latest/userguide/kubernetes-versions.html"

# ACK (managed, serverless, edge): each minor is supported for one year (ACK release notes, updated 2026-10-06).
# EKS: standard support is 14 months from the EKS release (its calendar); extended support costs extra.
KUBERNETES = {
    "alicloud": (
        Release("1.33", datetime.date(2026, 5, 31), ACK_VERSIONS),
        Release("1.34", datetime.date(2026, 9, 30), ACK_VERSIONS),
        Release(
            "1.35",
            datetime.date(2027, 2, 28),
            "https://www.alibabacloud.com/help/en/ack/ack-managed-and-ack-dedicated/user-guide/kubernetes-1-35-release-notes",
            ("1.35.1-aliyun.1", "1.35.2-aliyun.1", "1.35.7-aliyun.1"),
        ),
        Release(
            "1.36",
            datetime.date(2027, 5, 30),
            "https://help.aliyun.com/en/ack/ack-managed-and-ack-dedicated/user-guide/kubernetes-1-36",
            ("1.36.1-aliyun.1",),
        ),
    ),
    "aws": (
        Release("1.33", datetime.date(2026, 7, 29), EKS_VERSIONS),
        Release("1.34", datetime.date(2026, 12, 2), EKS_VERSIONS),
        Release("1.35", datetime.date(2027, 3, 27), EKS_VERSIONS),
    ),
}
# How each cloud spells a version: ACK's full build (1.35.7-aliyun.1), EKS's minor (1.35).
VERSION_FORMS = {"alicloud": re.compile(r"^\d+\.\d+\.\d+-aliyun\.\d+$"), "aws": re.compile(r"^\d+\.\d+$")}
VERSION_EXAMPLES = {"alicloud": "1.35.7-aliyun.1", "aws": "1.35"}


def today() -> datetime.date:
    forced = os.environ.get("MLP_TODAY")
    return datetime.date.fromisoformat(forced) if forced else datetime.date.today()


def minor_of(version: str) -> str | None:
    match = re.match(r"^v?(\d+)\.(\d+)", version) if isinstance(version, str) else None
    return f"{match[1]}.{match[2]}" if match else None


def release(cloud: str, version: str) -> Release | None:
    minor = minor_of(version)
    return next((r for r in KUBERNETES.get(cloud, ()) if r.minor == minor), None)


def supported(cloud: str, on: datetime.date | None = None) -> list[Release]:
    on = on or today()
    return [r for r in KUBERNETES[cloud] if r.end_of_support >= on]


def version_problem(cloud: str, version: str, on: datetime.date | None = None) -> str | None:
    """Why a cluster of `cloud` cannot be created at `version` today, or None."""
    on = on or today()
    if not VERSION_FORMS[cloud].match(version):
        return f"{version!r} is not how {cloud} names a Kubernetes version; write it as {VERSION_EXAMPLES[cloud]}"
    choices = [v for r in supported(cloud, on) for v in (r.versions or (r.minor,))]
    found = release(cloud, version)
    if found is None or found.end_of_support < on:
        ended = f" (its support ended {found.end_of_support})" if found else ""
        return f"Kubernetes {version} is not supported on {cloud}{ended}; supported: {', '.join(choices)}"
    if found.versions and version not in found.versions:
        return f"{cloud} does not offer {version}; supported: {', '.join(choices)}"
    return None


def days_left(cloud: str, version: str, on: datetime.date | None = None) -> int | None:
    """Days until `version` leaves support (negative: past it); None when the catalog does not know it."""
    found = release(cloud, version)
    return (found.end_of_support - (on or today())).days if found else None
