"""The allocation plan (operator keys only): the current plan, its history, its device intervals."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request

from api.auth import require
from api.keys import ApiKey
from api.routes.common import DEFAULT, Cursor, From, Limit, To, keyset_page, rows
from api.schemas import DeviceIntervalPage, PlanDetail, PlanPage

router = APIRouter(tags=["plan"])
Operator = Annotated[ApiKey, Depends(require("plan:read", operator_only=True))]

_PLAN_COLUMNS = """plan_id, issued_at, horizon_start, horizon_hours, dt_hours, objective, upper_bound, gap,
       devices, intervals, status"""
_HISTORY = f"""
select {_PLAN_COLUMNS} from ops.allocation_plans
where (%(start)s::timestamptz is null or issued_at >= %(start)s)
  and (%(end)s::timestamptz is null or issued_at < %(end)s)
  and (%(c0)s::timestamptz is null or (issued_at, plan_id) < (%(c0)s::timestamptz, %(c1)s::text))
order by issued_at desc, plan_id desc
limit %(limit)s
"""
_ONE = f"""
select {_PLAN_COLUMNS} from ops.allocation_plans
where plan_id = coalesce(%(plan)s, (select plan_id from ops.allocation_plans order by issued_at desc limit 1))
"""
_FACILITIES = """
select facility_id, interval_start, mw_mining, mw_inference, mw_curtailed, cap_mw, expected_profit_usd
from ops.allocation_plan_facility_summary where plan_id = %(plan)s order by facility_id, interval_start
"""
_DEVICES = """
select device_id, interval_start, mode, expected_margin_usd, reason
from ops.allocation_plan
where plan_id = %(plan)s
  and (%(device)s::text is null or device_id = %(device)s)
  and (%(start)s::timestamptz is null or interval_start >= %(start)s)
  and (%(end)s::timestamptz is null or interval_start < %(end)s)
  and (%(c0)s::text is null or (device_id, interval_start) > (%(c0)s::text, %(c1)s::timestamptz))
order by device_id, interval_start
limit %(limit)s
"""


def _header(request: Request, plan_id: str | None) -> dict:
    """A plan's header (None: the newest plan); 404 when there is none."""
    found = rows(request, _ONE, {"plan": plan_id})
    if not found:
        raise HTTPException(404, f"no plan {plan_id}" if plan_id else "no plan has been issued yet")
    return found[0]


def _plan(request: Request, plan_id: str | None) -> dict:
    plan = _header(request, plan_id)
    return {**plan, "facilities": rows(request, _FACILITIES, {"plan": plan["plan_id"]})}


@router.get("/v1/plans", response_model=PlanPage, summary="Plan history, newest first")
def list_plans(
    request: Request,
    key: Operator,
    start: From = None,
    end: To = None,
    limit: Limit = DEFAULT,
    cursor: Cursor = None,
) -> dict:
    params = {"start": start, "end": end}
    return keyset_page(request, _HISTORY, params, ("issued_at", "plan_id"), limit, cursor)


@router.get(
    "/v1/plans/current", response_model=PlanDetail, summary="The current plan with its facility summary"
)
def current_plan(request: Request, key: Operator) -> dict:
    return _plan(request, None)


@router.get("/v1/plans/{plan_id}", response_model=PlanDetail, summary="One plan with its facility summary")
def get_plan(request: Request, plan_id: str, key: Operator) -> dict:
    return _plan(request, plan_id)


@router.get(
    "/v1/plans/{plan_id}/devices", response_model=DeviceIntervalPage, summary="A plan's device intervals"
)
def plan_devices(
    request: Request,
    plan_id: str,
    key: Operator,
    device_id: str | None = None,
    start: From = None,
    end: To = None,
    limit: Limit = DEFAULT,
    cursor: Cursor = None,
) -> dict:
    plan = _header(request, None if plan_id == "current" else plan_id)["plan_id"]
    params = {"plan": plan, "device": device_id, "start": start, "end": end}
    return keyset_page(request, _DEVICES, params, ("device_id", "interval_start"), limit, cursor)
