"""``HcpClient``: the HCP REST API over httpx, one typed method per endpoint.

List methods return one :class:`~hcp_client.Page`; ``iter_*`` methods follow the cursors
through every page. Document fetches remember ETags and ask with ``If-None-Match``, so an
unchanged invoice costs a 304 and no body.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import date, datetime
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel

from hcp_client._base import Page
from hcp_client.models import (
    DeviceInterval,
    Health,
    Invoice,
    InvoiceSummary,
    Plan,
    PlanDetail,
    Session,
    UsageRow,
    Workload,
    WorkloadDetail,
)

M = TypeVar("M", bound=BaseModel)


class HcpApiError(RuntimeError):
    """The API answered with an error; ``status`` is the HTTP status, ``detail`` its message."""

    def __init__(self, status: int, detail: str):
        super().__init__(f"HTTP {status}: {detail}")
        self.status = status
        self.detail = detail


def _params(**values: Any) -> dict[str, Any]:
    out = {}
    for name, value in values.items():
        if value is None:
            continue
        key = {"from_": "from"}.get(name, name)
        out[key] = value.isoformat() if isinstance(value, date | datetime) else value
    return out


class HcpClient:
    """A client of one API base URL with one API key (``hcp_<id>_<secret>``)."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._http = httpx.Client(
            base_url=base_url.rstrip("/"),
            headers={"Authorization": f"Bearer {api_key}", "User-Agent": "hcp-client/1.0"},
            timeout=timeout,
            transport=transport,
        )
        self._etags: dict[str, tuple[str, bytes]] = {}

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> HcpClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- transport --------------------------------------------------------------------------------

    def _get(self, path: str, params: dict[str, Any] | None = None, cache: bool = False) -> bytes:
        headers = {}
        if cache and path in self._etags:
            headers["If-None-Match"] = self._etags[path][0]
        response = self._http.get(path, params=params, headers=headers)
        if response.status_code == 304:
            return self._etags[path][1]
        if response.status_code >= 400:
            try:
                detail = response.json().get("detail", response.text)
            except ValueError:
                detail = response.text
            raise HcpApiError(response.status_code, str(detail))
        if cache and "ETag" in response.headers:
            self._etags[path] = (response.headers["ETag"], response.content)
        return response.content

    def _page(self, model: type[M], path: str, **params: Any) -> Page[M]:
        return Page[model].model_validate_json(self._get(path, _params(**params)))

    def _one(self, model: type[M], path: str, cache: bool = False) -> M:
        return model.model_validate_json(self._get(path, cache=cache))

    @staticmethod
    def _iterate(fetch: Callable[..., Page[M]], **params: Any) -> Iterator[M]:
        cursor = None
        while True:
            page = fetch(**params, cursor=cursor)
            yield from page.data
            cursor = page.next_cursor
            if cursor is None:
                return

    # --- resources --------------------------------------------------------------------------------

    def health(self) -> Health:
        return self._one(Health, "/v1/health")

    def usage(
        self,
        *,
        customer_id: str | None = None,
        from_: date | None = None,
        to: date | None = None,
        gpu_model: str | None = None,
        workload_type: str | None = None,
        limit: int = 100,
        cursor: str | None = None,
    ) -> Page[UsageRow]:
        """Usage per customer, day (customer's time zone) and product; ``to`` is exclusive."""
        return self._page(
            UsageRow, "/v1/usage", customer_id=customer_id, from_=from_, to=to, gpu_model=gpu_model,
            workload_type=workload_type, limit=limit, cursor=cursor,
        )  # fmt: skip

    def iter_usage(self, **filters: Any) -> Iterator[UsageRow]:
        return self._iterate(self.usage, **filters)

    def invoices(
        self,
        *,
        customer_id: str | None = None,
        status: str | None = None,
        period: str | None = None,
        from_: datetime | None = None,
        to: datetime | None = None,
        limit: int = 100,
        cursor: str | None = None,
    ) -> Page[InvoiceSummary]:
        """Invoices and debit notes, newest first (time filters apply to the period start)."""
        return self._page(
            InvoiceSummary, "/v1/invoices", customer_id=customer_id, status=status, period=period,
            from_=from_, to=to, limit=limit, cursor=cursor,
        )  # fmt: skip

    def iter_invoices(self, **filters: Any) -> Iterator[InvoiceSummary]:
        return self._iterate(self.invoices, **filters)

    def invoice(self, invoice_id: int) -> Invoice:
        """One invoice with its lines (revalidated with its ETag)."""
        return self._one(Invoice, f"/v1/invoices/{invoice_id}", cache=True)

    def invoice_pdf(self, invoice_id: int) -> bytes:
        """The invoice's PDF file."""
        return self._get(f"/v1/invoices/{invoice_id}/pdf", cache=True)

    def credit_notes(
        self,
        *,
        customer_id: str | None = None,
        period: str | None = None,
        limit: int = 100,
        cursor: str | None = None,
    ) -> Page[InvoiceSummary]:
        return self._page(
            InvoiceSummary,
            "/v1/credit-notes",
            customer_id=customer_id,
            period=period,
            limit=limit,
            cursor=cursor,
        )

    def credit_note(self, invoice_id: int) -> Invoice:
        return self._one(Invoice, f"/v1/credit-notes/{invoice_id}", cache=True)

    def workloads(
        self,
        *,
        customer_id: str | None = None,
        from_: datetime | None = None,
        to: datetime | None = None,
        limit: int = 100,
        cursor: str | None = None,
    ) -> Page[Workload]:
        return self._page(
            Workload, "/v1/workloads", customer_id=customer_id, from_=from_, to=to, limit=limit, cursor=cursor
        )

    def iter_workloads(self, **filters: Any) -> Iterator[Workload]:
        return self._iterate(self.workloads, **filters)

    def workload(self, workload_id: str) -> WorkloadDetail:
        return self._one(WorkloadDetail, f"/v1/workloads/{workload_id}")

    def sessions(
        self,
        *,
        customer_id: str | None = None,
        workload_id: str | None = None,
        from_: datetime | None = None,
        to: datetime | None = None,
        limit: int = 100,
        cursor: str | None = None,
    ) -> Page[Session]:
        return self._page(
            Session, "/v1/sessions", customer_id=customer_id, workload_id=workload_id, from_=from_, to=to,
            limit=limit, cursor=cursor,
        )  # fmt: skip

    def iter_sessions(self, **filters: Any) -> Iterator[Session]:
        return self._iterate(self.sessions, **filters)

    def plans(
        self,
        *,
        from_: datetime | None = None,
        to: datetime | None = None,
        limit: int = 100,
        cursor: str | None = None,
    ) -> Page[Plan]:
        """Plan history, newest first (operator keys)."""
        return self._page(Plan, "/v1/plans", from_=from_, to=to, limit=limit, cursor=cursor)

    def current_plan(self) -> PlanDetail:
        return self._one(PlanDetail, "/v1/plans/current")

    def plan(self, plan_id: str) -> PlanDetail:
        return self._one(PlanDetail, f"/v1/plans/{plan_id}")

    def plan_devices(
        self,
        plan_id: str = "current",
        *,
        device_id: str | None = None,
        from_: datetime | None = None,
        to: datetime | None = None,
        limit: int = 100,
        cursor: str | None = None,
    ) -> Page[DeviceInterval]:
        return self._page(
            DeviceInterval, f"/v1/plans/{plan_id}/devices", device_id=device_id, from_=from_, to=to, limit=limit,
            cursor=cursor,
        )  # fmt: skip
