"""The shipped price catalog: sourced, dated and fresh (the pack's copy is checked by tests/test_vendored.py)."""

from datetime import date, timedelta

from mlplatform.cost import load_catalog, stale_prices
from mlplatform.cost.pricing import today_date


def test_the_catalog_is_not_older_than_its_refresh_period():
    # Fails once the prices are older than `refreshDays` from their `readOn`: re-read every source and
    # update the prices and dates (MLP_TODAY=YYYY-MM-DD moves the clock).
    catalog = load_catalog()
    assert stale_prices(catalog, today_date()) == []


def test_a_catalog_past_its_refresh_period_is_reported_with_what_to_re_read():
    catalog = load_catalog()
    read = date.fromisoformat(catalog["readOn"])
    due = read + timedelta(days=catalog["refreshDays"])
    assert stale_prices(catalog, due) == []
    stale = stale_prices(catalog, due + timedelta(days=1))
    assert stale[0] == f"the catalog was read on {read} and is due every {catalog['refreshDays']} days (due {due})"
    assert any("clusterFee managed:ack.pro.small" in line and "ack-pro-cluster-billing" in line for line in stale)


def test_every_price_names_its_public_source_and_the_day_it_was_read():
    catalog = load_catalog()
    assert catalog["currency"] == "USD"
    entries = [entry for kinds in catalog["prices"].values() for prices in kinds.values() for entry in prices.values()]
    assert len(entries) >= 8
    for entry in entries:
        assert entry["source"].startswith("https://"), entry
        date.fromisoformat(entry["readOn"])
        assert entry.get("note"), entry
    calendar = catalog["eksStandardSupportEnds"]
    assert calendar["source"].startswith("https://docs.aws.amazon.com/")
    for ends in calendar["versions"].values():
        date.fromisoformat(ends)


def test_what_has_no_price_is_named_with_the_reason():
    unpriced = load_catalog()["unpriced"]
    assert "alicloud:instance" in unpriced and "ecs.gn7i-c8g1.2xlarge" in unpriced["alicloud:instance"]
    assert all(reason for reason in unpriced.values())
