"""Invoices and credit notes with their lines, the invoice PDF, and ETags.

Customer keys see their own finalized documents only (a draft is the operator's work in
progress); a document of another customer answers 404 exactly as a missing one does. The ETag
of a document is the SHA-256 of its JSON (or PDF) body, so it changes whenever anything in it
changes (a status moving to paid included), and ``If-None-Match`` answers 304.
"""

from __future__ import annotations

import hashlib
from typing import Annotated

from fastapi import APIRouter, Depends, Header, HTTPException, Request, Response

from api import pagination
from api.auth import customer_filter, require
from api.keys import ApiKey
from api.routes.common import DEFAULT, Cursor, CustomerId, From, Limit, To, rows
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
  and (%(after)s::bigint is null or invoice_id < %(after)s)
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


def _list(
    request: Request, key: ApiKey, kinds: list[str], customer_id, status, period, start, end, limit, cursor
):
    after = pagination.decode(cursor, 1) or [None]
    found = rows(
        request,
        _LIST,
        {
            "kinds": kinds,
            "customer": customer_filter(key, customer_id),
            "final_only": not key.is_operator,
            "status": status,
            "period": period,
            "start": start,
            "end": end,
            "after": after[0],
            "limit": limit + 1,
        },
    )
    data, next_cursor = pagination.page(found, limit, ("invoice_id",))
    return {"data": data, "next_cursor": next_cursor}


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


@router.get("/v1/invoices", response_model=InvoicePage, summary="Invoices and debit notes, newest first")
def list_invoices(
    request: Request,
    key: Annotated[ApiKey, Depends(require("invoices:read"))],
    customer_id: CustomerId = None,
    status: str | None = None,
    period: str | None = None,
    start: From = None,
    end: To = None,
    limit: Limit = DEFAULT,
    cursor: Cursor = None,
) -> dict:
    return _list(request, key, INVOICE_KINDS, customer_id, status, period, start, end, limit, cursor)


@router.get(
    "/v1/invoices/{invoice_id}",
    response_model=Invoice,
    responses=NOT_MODIFIED,
    summary="One invoice with lines",
)
def get_invoice(
    request: Request,
    invoice_id: int,
    key: Annotated[ApiKey, Depends(require("invoices:read"))],
    if_none_match: IfNoneMatch = None,
) -> Response:
    document = Invoice.model_validate(_document(request, key, invoice_id, INVOICE_KINDS))
    return _with_etag(document.model_dump_json().encode(), "application/json", if_none_match)


@router.get(
    "/v1/invoices/{invoice_id}/pdf",
    response_class=Response,
    responses={200: {"content": {"application/pdf": {}}}, **NOT_MODIFIED},
    summary="The invoice's PDF (as `hcp billing report` writes it)",
)
def get_invoice_pdf(
    request: Request,
    invoice_id: int,
    key: Annotated[ApiKey, Depends(require("invoices:read"))],
    if_none_match: IfNoneMatch = None,
) -> Response:
    from api.reports import render_invoice_pdf

    _document(request, key, invoice_id, INVOICE_KINDS + NOTE_KINDS)  # 404 unless this key may read it
    with request.app.state.pool.connection() as conn:
        _, content = render_invoice_pdf(conn, invoice_id)
    return _with_etag(content, "application/pdf", if_none_match)


@router.get("/v1/credit-notes", response_model=InvoicePage, tags=["credit notes"], summary="Credit notes")
def list_credit_notes(
    request: Request,
    key: Annotated[ApiKey, Depends(require("invoices:read"))],
    customer_id: CustomerId = None,
    status: str | None = None,
    period: str | None = None,
    start: From = None,
    end: To = None,
    limit: Limit = DEFAULT,
    cursor: Cursor = None,
) -> dict:
    return _list(request, key, NOTE_KINDS, customer_id, status, period, start, end, limit, cursor)


@router.get(
    "/v1/credit-notes/{invoice_id}",
    response_model=Invoice,
    responses=NOT_MODIFIED,
    tags=["credit notes"],
    summary="One credit note with lines",
)
def get_credit_note(
    request: Request,
    invoice_id: int,
    key: Annotated[ApiKey, Depends(require("invoices:read"))],
    if_none_match: IfNoneMatch = None,
) -> Response:
    document = Invoice.model_validate(_document(request, key, invoice_id, NOTE_KINDS))
    return _with_etag(document.model_dump_json().encode(), "application/json", if_none_match)
