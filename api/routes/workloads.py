"""Workloads and their running sessions, from marts.fct_workload_sessions."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request

from api.auth import customer_filter, require
from api.keys import ApiKey
from api.routes.common import DEFAULT, Cursor, CustomerId, From, Limit, To, keyset_page, rows
from api.schemas import SessionPage, WorkloadDetail, WorkloadPage

router = APIRouter(tags=["workloads"])

_WORKLOADS = """
select workload_id, max(customer_id) as customer_id, max(workload_type) as workload_type,
       max(gpu_pool) as gpu_pool, max(gpus_requested) as gpus_requested, count(*)::integer as sessions,
       min(started_at) as first_started_at, max(ended_at) as last_ended_at, bool_or(is_open) as is_open,
       sum(gpu_seconds)::bigint as gpu_seconds
from marts.fct_workload_sessions
where (%(customer)s::text is null or customer_id = %(customer)s)
  and (%(workload)s::text is null or workload_id = %(workload)s)
  and (%(c0)s::text is null or workload_id > %(c0)s)
group by workload_id
having (%(start)s::timestamptz is null or max(ended_at) >= %(start)s)
   and (%(end)s::timestamptz is null or min(started_at) < %(end)s)
order by workload_id
limit %(limit)s
"""
_SESSIONS = """
select session_id, workload_id, device_id, customer_id, workload_type, gpu_pool, started_at, ended_at,
       end_reason, is_open, gpu_seconds
from marts.fct_workload_sessions
where (%(customer)s::text is null or customer_id = %(customer)s)
  and (%(workload)s::text is null or workload_id = %(workload)s)
  and (%(start)s::timestamptz is null or started_at >= %(start)s)
  and (%(end)s::timestamptz is null or started_at < %(end)s)
  and (%(c0)s::timestamptz is null or (started_at, session_id) > (%(c0)s::timestamptz, %(c1)s::text))
order by started_at, session_id
limit %(limit)s
"""


@router.get("/v1/workloads", response_model=WorkloadPage, summary="Workloads, by id")
def list_workloads(
    request: Request,
    key: Annotated[ApiKey, Depends(require("workloads:read"))],
    customer_id: CustomerId = None,
    start: From = None,
    end: To = None,
    limit: Limit = DEFAULT,
    cursor: Cursor = None,
) -> dict:
    params = {"customer": customer_filter(key, customer_id), "workload": None, "start": start, "end": end}
    return keyset_page(request, _WORKLOADS, params, ("workload_id",), limit, cursor)


@router.get(
    "/v1/workloads/{workload_id}", response_model=WorkloadDetail, summary="One workload with its sessions"
)
def get_workload(
    request: Request, workload_id: str, key: Annotated[ApiKey, Depends(require("workloads:read"))]
) -> dict:
    params = {
        "customer": customer_filter(key, None),
        "workload": workload_id,
        "start": None,
        "end": None,
        "c0": None,
        "c1": None,
        "limit": 10_001,
    }
    found = rows(request, _WORKLOADS, params)
    if not found:
        raise HTTPException(404, f"no workload {workload_id} for this key")
    return {**found[0], "session_list": rows(request, _SESSIONS, params)}


@router.get("/v1/sessions", response_model=SessionPage, summary="Running sessions, by start time")
def list_sessions(
    request: Request,
    key: Annotated[ApiKey, Depends(require("workloads:read"))],
    customer_id: CustomerId = None,
    workload_id: str | None = None,
    start: From = None,
    end: To = None,
    limit: Limit = DEFAULT,
    cursor: Cursor = None,
) -> dict:
    params = {
        "customer": customer_filter(key, customer_id),
        "workload": workload_id,
        "start": start,
        "end": end,
    }
    return keyset_page(request, _SESSIONS, params, ("started_at", "session_id"), limit, cursor)
