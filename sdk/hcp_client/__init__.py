"""Typed Python client of the HCP REST API (httpx + pydantic)::

from hcp_client import HcpClient

with HcpClient("http://127.0.0.1:8000", "hcp_<id>_<secret>") as hcp:
    for row in hcp.iter_usage(from_=date(2026, 11, 1)):
        print(row.usage_date, row.gpu_model, row.amount_usd)
"""

from hcp_client._base import Page
from hcp_client.client import HcpApiError, HcpClient

__all__ = ["HcpApiError", "HcpClient", "Page"]
