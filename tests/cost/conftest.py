"""Cost tests never read live prices: no cloud credentials, and a price cache of their own."""

import pytest

from mlplatform.cost import live


@pytest.fixture(autouse=True)
def offline_prices(tmp_path, monkeypatch):
    for name in live.AWS_CREDENTIALS + live.ALICLOUD_CREDENTIALS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv(live.CACHE_ENV, str(tmp_path / "price-cache"))
    return tmp_path / "price-cache"
