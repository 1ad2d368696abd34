"""The shipped price catalog: sourced, dated and fresh (the pack's copy is checked by tests/test_vendored.py)."""

from datetime import date, timedelta

from mlplatform import rules
from mlplatform.cost import load_catalog, stale_prices
from mlplatform.cost.pricing import today_date


def entries(catalog):
    return [entry for kinds in catalog["prices"].values() for prices in kinds.values() for entry in prices.values()]


def test_the_catalog_is_not_older_than_its_refresh_period():
    # Fails once the prices are older than `refreshDays` from their `readOn`: re-read every source and
    # update the prices and dates (MLP_TODAY=YYYY-MM-DD moves the clock).
    catalog = load_catalog()
    assert stale_prices(catalog, today_date()) == []


def test_a_catalog_past_its_refresh_period_is_reported_with_what_to_re_read():
    catalog = load_catalog()
    oldest = min(date.fromisoformat(entry["readOn"]) for entry in entries(catalog))
    due = oldest + timedelta(days=catalog["refreshDays"])
    assert stale_prices(catalog, due) == []
    stale = stale_prices(catalog, due + timedelta(days=1))
    assert any("clusterFee managed:ack.pro.small" in line and "ack-pro-cluster-billing" in line for line in stale)
    read = date.fromisoformat(catalog["readOn"])
    later = read + timedelta(days=catalog["refreshDays"] + 1)
    assert stale_prices(catalog, later)[0].startswith(f"the catalog was read on {read}")


def test_every_price_names_its_public_source_and_the_day_it_was_read():
    catalog = load_catalog()
    assert catalog["currency"] == "USD"
    assert len(entries(catalog)) >= 16
    for entry in entries(catalog):
        assert entry["source"].startswith("https://"), entry
        date.fromisoformat(entry["readOn"])
        assert entry.get("note"), entry
        assert "usd" in entry or {"low", "high"} <= set(entry), entry
    calendar = catalog["eksStandardSupportEnds"]
    assert calendar["source"].startswith("https://docs.aws.amazon.com/")
    for ends in calendar["versions"].values():
        date.fromisoformat(ends)


def test_spot_is_a_documented_range_on_both_clouds():
    for cloud in ("alicloud", "aws"):
        spot = load_catalog()["prices"][cloud]["spotFactor"]["range"]
        assert (spot["low"], spot["high"]) == (0.1, 1.0)  # "up to 90%" off; never above on-demand


def test_every_aws_gpu_family_the_config_allows_is_priced_in_us_east_1():
    table = load_catalog()["prices"]["aws"]["instance"]["us-east-1"]["usd"]
    # p4de.: a family the Karpenter price file lists; gr6 and the p6 family too. Those it does not list are unpriced.
    for prefix in rules.GPU_INSTANCE_PREFIXES["aws"]:
        if prefix in ("p5e.",):  # not in AWS's Karpenter price file of 2026-01-19: reported unpriced if used
            continue
        assert any(name.startswith(prefix) for name in table), prefix


def test_what_has_no_price_is_named_with_the_reason():
    unpriced = load_catalog()["unpriced"]
    assert "DescribePrice" in unpriced["alicloud:instance"]
    assert all(reason for reason in unpriced.values())
