"""The Python SDK against the API served out of process, and its models against the spec."""

from __future__ import annotations

import json
import typing
from decimal import Decimal

import hcp_client.models as models
import pytest
from hcp_client import HcpApiError, HcpClient, Page
from pydantic import BaseModel

from api.sdk_models import SDK_MODELS_PATH, sdk_models_text
from api.spec import SPEC_PATH


def test_generated_models_have_not_drifted() -> None:
    """The SDK's models are what datamodel-code-generator makes of the checked-in spec."""
    assert SDK_MODELS_PATH.read_text() == sdk_models_text(), (
        "sdk/hcp_client/models.py is stale: run `hcp api spec`"
    )


def test_models_match_the_spec() -> None:
    """Every response schema of the spec has an SDK model with the same fields (and the reverse)."""
    schemas = json.loads(SPEC_PATH.read_text())["components"]["schemas"]
    skip = {"HTTPValidationError", "ValidationError", "WebhookResult"}
    pages = {name for name in schemas if name.endswith("Page")}
    for name, schema in schemas.items():
        if name in skip or name in pages:
            continue
        model = getattr(models, name, None)
        assert isinstance(model, type) and issubclass(model, BaseModel), f"the SDK has no model {name}"
        assert set(model.model_fields) == set(schema["properties"]), name
    for name in pages:  # a page is data + next_cursor of a model the SDK has
        item = schemas[name]["properties"]["data"]["items"]["$ref"].rsplit("/", 1)[1]
        assert hasattr(models, item), name


def test_sdk_reads_typed_pages_and_documents(api_server, api_fleet, keys) -> None:
    owner = api_fleet.customers[0]
    with HcpClient(api_server.base_url, keys.customer[owner]) as hcp:
        assert hcp.health().database is True
        usage = list(hcp.iter_usage(limit=2))
        assert usage and {u.customer_id for u in usage} == {owner}
        assert all(isinstance(u.amount_usd, Decimal) for u in usage)
        assert sum(1 for _ in hcp.iter_sessions(limit=7)) == len(hcp.sessions(limit=1000).data)
        invoice_id = api_fleet.invoices[owner][0]
        invoice = hcp.invoice(invoice_id)
        assert invoice.customer_id == owner and invoice.lines
        assert sum(line.amount_usd for line in invoice.lines) == invoice.subtotal_usd
        assert hcp.invoice(invoice_id) == invoice  # revalidated by ETag (304), same document
        assert hcp.invoice_pdf(invoice_id).startswith(b"%PDF")
        workload = hcp.workload(api_fleet.workloads[owner])
        assert workload.session_list and workload.sessions == len(workload.session_list)
        with pytest.raises(HcpApiError) as refused:
            hcp.current_plan()
        assert refused.value.status == 403
        with pytest.raises(HcpApiError) as missing:
            hcp.invoice(api_fleet.invoices[api_fleet.customers[1]][0])
        assert missing.value.status == 404
    with HcpClient(api_server.base_url, keys.operator) as hcp:
        plan = hcp.current_plan()
        assert plan.facilities and hcp.plans().data[0].plan_id == plan.plan_id
        devices = hcp.plan_devices(plan.plan_id, limit=5)
        assert len(devices.data) == 5 and devices.next_cursor is not None
        assert typing.get_type_hints(HcpClient.usage)["return"] == Page[models.UsageRow]
