"""Invoices and credit notes with their lines, the invoice PDF, and ETags.

Customer keys see their own finalized documents only (a draft is the operator's work in
progress); a document of another customer answers 404 exactly as a missing one does. The ETag
of a document is the SHA-256 of its JSON (or PDF) body, so it changes whenever anything in it
changes (a status moving to paid included), and ``If-None-Match`` answers 304.
"""

from __future__ import annotations

import hashlib
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, HTTPException, Request, Response

from api.auth import customer_filter, require
from api.keys import ApiKey
from api.routes.common import DEFAULT, Cursor, CustomerId, From, Limit, To, keyset_page, rows
from api.schemas import Invoice, InvoicePage

router = APIRouter(tags=["invoices"])

_COLUMNS = """invoice_id, kind, invoice_number, customer_id, period, period_start, period_end, status, currency,
       subtotal_usd, discount_usd, credit_usd, tax_usd, total_usd, issued_at, due_at, paid_at, refers_to, reason"""
_LIST = f"""
select {_COLUMNS}
from billing.invoices
where kind = any(%(kinds)s)
  and (%(customer)s::text is null or customer_id = %(customer)s)
  and (not %(final_only)s or status <> 'draft')
  and (%(status)s::text is null or status = %(status)s)
  and (%(period)s::text is null or period = %(period)s)
  and (%(start)s::timestamptz is null or period_start >= %(start)s)
  and (%(end)s::timestamptz is null or period_start < %(end)s)
  and (%(c0)s::bigint is null or invoice_id < %(c0)s)
order by invoice_id desc
limit %(limit)s
"""
_ONE = f"""
select {_COLUMNS}
from billing.invoices
where invoice_id = %(id)s and kind = any(%(kinds)s)
  and (%(customer)s::text is null or customer_id = %(customer)s)
  and (not %(final_only)s or status <> 'draft')
"""
_LINES = """
select line_no, line_kind, description, gpu_model, gpu_pool, workload_type, quantity, unit, unit_price_usd,
       amount_usd
from billing.invoice_lines where invoice_id = %(id)s order by line_no
"""
INVOICE_KINDS = ["invoice", "debit_note"]
NOTE_KINDS = ["credit_note"]
NOT_MODIFIED = {304: {"description": "not modified since the ETag in If-None-Match"}}
IfNoneMatch = Annotated[str | None, Header(description="an ETag from an earlier response")]


def _filters(
    customer_id: CustomerId = None,
    status: str | None = None,
    period: str | None = None,
    start: From = None,
    end: To = None,
    limit: Limit = DEFAULT,
    cursor: Cursor = None,
) -> dict[str, Any]:
    """The query parameters of a document list (invoices or credit notes)."""
    return locals()


Filters = Annotated[dict[str, Any], Depends(_filters)]
Reader = Annotated[ApiKey, Depends(require("invoices:read"))]


def _list(request: Request, key: ApiKey, kinds: list[str], filters: dict[str, Any]) -> dict:
    params = {
        "kinds": kinds,
        "customer": customer_filter(key, filters["customer_id"]),
        "final_only": not key.is_operator,
        **{name: filters[name] for name in ("status", "period", "start", "end")},
    }
    return keyset_page(request, _LIST, params, ("invoice_id",), filters["limit"], filters["cursor"])


def _document(request: Request, key: ApiKey, invoice_id: int, kinds: list[str]) -> dict:
    params = {
        "id": invoice_id,
        "kinds": kinds,
        "customer": customer_filter(key, None),
        "final_only": not key.is_operator,
    }
    found = rows(request, _ONE, params)
    if not found:
        raise HTTPException(404, f"no {kinds[0].replace('_', ' ')} {invoice_id} for this key")
    return {**found[0], "lines": rows(request, _LINES, params)}


def _with_etag(body: bytes, media_type: str, if_none_match: str | None) -> Response:
    etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
    headers = {"ETag": etag, "Cache-Control": "private, no-cache"}
    if if_none_match and etag in [tag.strip() for tag in if_none_match.split(",")]:
        return Response(status_code=304, headers=headers)
    return Response(content=body, media_type=media_type, headers=headers)


def _document_routes(
    resource: str, kinds: list[str], names: tuple[str, str], summaries: tuple[str, str], **route
):
    """A kind of billing document's list and one-document endpoints (``names``: their operation names)."""

    def list_documents(request: Request, key: Reader, filters: Filters) -> dict:
        return _list(request, key, kinds, filters)

    def get_document(
        request: Request, invoice_id: int, key: Reader, if_none_match: IfNoneMatch = None
    ) -> Response:
        document = Invoice.model_validate(_document(request, key, invoice_id, kinds))
        return _with_etag(document.model_dump_json().encode(), "application/json", if_none_match)

    path = f"/v1/{resource}"
    router.add_api_route(
        path, list_documents, response_model=InvoicePage, name=names[0], summary=summaries[0], **route
    )
    router.add_api_route(
        path + "/{invoice_id}", get_document, response_model=Invoice, responses=NOT_MODIFIED, name=names[1],
        summary=summaries[1], **route,
    )  # fmt: skip


_document_routes(
    "invoices", INVOICE_KINDS, ("list_invoices", "get_invoice"),
    ("Invoices and debit notes, newest first", "One invoice with lines"),
)  # fmt: skip
_document_routes(
    "credit-notes", NOTE_KINDS, ("list_credit_notes", "get_credit_note"),
    ("Credit notes", "One credit note with lines"), tags=["credit notes"],
)  # fmt: skip


@router.get(
    "/v1/invoices/{invoice_id}/pdf",
    response_class=Response,
    responses={200: {"content": {"application/pdf": {}}}, **NOT_MODIFIED},
    summary="The invoice's PDF (as `hcp billing report` writes it)",
)
def get_invoice_pdf(
    request: Request,
    invoice_id: int,
    key: Reader,
    if_none_match: IfNoneMatch = None,
) -> Response:
    from api.reports import render_invoice_pdf

    _document(request, key, invoice_id, INVOICE_KINDS + NOTE_KINDS)  # 404 unless this key may read it
    with request.app.state.pool.connection() as conn:
        _, content = render_invoice_pdf(conn, invoice_id)
    return _with_etag(content, "application/pdf", if_none_match)
