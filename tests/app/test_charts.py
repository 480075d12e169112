"""The USD-per-MWh chart gives ASICs and GPUs a panel and a y axis each."""

from __future__ import annotations

import pandas as pd

from apps.streamlit.lib import charts


def test_asics_and_gpus_get_their_own_scale():
    df = pd.DataFrame(
        {
            "hardware_model": ["S21", "S19j Pro", "NVIDIA H100 80GB HBM3"],
            "device_kind": ["asic", "asic", "gpu"],
            "revenue_usd_per_mwh": [62.0, 55.0, 2500.0],
            "cost_usd_per_mwh": [40.0, 41.0, 45.0],
            "margin_usd_per_mwh": [22.0, 14.0, 2455.0],
        }
    )
    fig = charts.usd_per_mwh(df)
    by_axis: dict[str, set[str]] = {}
    for trace in fig.data:
        by_axis.setdefault(trace.yaxis, set()).update(trace.x)
        assert trace.type == "bar"
    assert by_axis == {"y": {"S21", "S19j Pro"}, "y2": {"NVIDIA H100 80GB HBM3"}}
    assert fig.layout.yaxis2.matches is None and fig.layout.yaxis.matches is None
    assert [a.text for a in fig.layout.annotations] == ["ASICs", "GPUs"]
    asic_max = max(max(t.y) for t in fig.data if t.yaxis == "y")
    assert asic_max < 100  # the ASIC panel is scaled by ASIC values only
    assert sorted(t.name for t in fig.data if t.showlegend) == ["cost", "margin", "revenue"]


def test_one_kind_only_is_one_panel():
    df = pd.DataFrame(
        {
            "hardware_model": ["S21"],
            "device_kind": ["asic"],
            "revenue_usd_per_mwh": [62.0],
            "cost_usd_per_mwh": [40.0],
            "margin_usd_per_mwh": [22.0],
        }
    )
    fig = charts.usd_per_mwh(df)
    assert {t.yaxis for t in fig.data} == {"y"} and len(fig.data) == 3
