"""GET /v1/usage: usage per customer, day (in the customer's time zone) and product, from marts.fct_usage."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from api.auth import customer_filter, require
from api.keys import ApiKey
from api.routes.common import DEFAULT, Cursor, CustomerId, Limit, keyset_page
from api.schemas import UsagePage

router = APIRouter(tags=["usage"])

_KEY = ("usage_date", "customer_id", "model_key", "type_key")
_QUERY = """
select customer_id, usage_date, gpu_model, workload_type,
       coalesce(gpu_model, '') as model_key, coalesce(workload_type, '') as type_key,
       count(distinct workload_id)::integer as workloads,
       sum(gpu_seconds)::bigint as gpu_seconds,
       sum(billable_gpu_seconds)::bigint as billable_gpu_seconds,
       sum(amount_usd) as amount_usd
from marts.fct_usage
where (%(customer)s::text is null or customer_id = %(customer)s)
  and (%(start)s::date is null or usage_date >= %(start)s::date)
  and (%(end)s::date is null or usage_date < %(end)s::date)
  and (%(model)s::text is null or gpu_model = %(model)s)
  and (%(wtype)s::text is null or workload_type = %(wtype)s)
  and (%(c0)s::date is null
       or (usage_date, customer_id, coalesce(gpu_model, ''), coalesce(workload_type, ''))
          > (%(c0)s::date, %(c1)s::text, %(c2)s::text, %(c3)s::text))
group by customer_id, usage_date, gpu_model, workload_type
order by usage_date, customer_id, model_key, type_key
limit %(limit)s
"""


@router.get("/v1/usage", response_model=UsagePage, summary="Usage per customer, day and product")
def list_usage(
    request: Request,
    key: Annotated[ApiKey, Depends(require("usage:read"))],
    customer_id: CustomerId = None,
    start: Annotated[date | None, Query(alias="from", description="first day (inclusive)")] = None,
    end: Annotated[date | None, Query(alias="to", description="last day (exclusive)")] = None,
    gpu_model: str | None = None,
    workload_type: str | None = None,
    limit: Limit = DEFAULT,
    cursor: Cursor = None,
) -> dict:
    params = {
        "customer": customer_filter(key, customer_id),
        "start": start,
        "end": end,
        "model": gpu_model,
        "wtype": workload_type,
    }
    return keyset_page(request, _QUERY, params, _KEY, limit, cursor)
