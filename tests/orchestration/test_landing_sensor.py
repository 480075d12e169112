"""The landing sensor asks for one run per new or changed file, routed to its asset and day."""

import dagster as dg

from assets.resources import LandingResource
from orchestration.sensors import landing_folder_sensor


def write(root, relative: str, text: str = "x\n"):
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def evaluate(root, cursor=None):
    context = dg.build_sensor_context(cursor=cursor, resources={"landing": LandingResource(root=str(root))})
    result = landing_folder_sensor(context)
    return (result if isinstance(result, list) else []), context.cursor


def test_routes_files_to_assets_and_days(tmp_path):
    write(tmp_path, "reference/devices.csv")
    write(tmp_path, "prices/ercot_rt/rtm_spp_20261118.csv")
    write(tmp_path, "telemetry/dcgm/2026-11-18.prom")
    write(tmp_path, "labels/faults.csv")  # ground truth, never ingested
    requests, cursor = evaluate(tmp_path)
    routed = {(r.asset_selection[0].to_user_string(), r.partition_key) for r in requests}
    assert routed == {
        ("raw/devices", None),
        ("raw/energy_prices", "2026-11-18"),
        ("raw/device_telemetry", "2026-11-18"),
    }

    again, _ = evaluate(tmp_path, cursor)
    assert again == []  # nothing new

    write(tmp_path, "telemetry/dcgm/2026-11-18.prom", "changed\n")
    changed, _ = evaluate(tmp_path, cursor)
    assert [(r.asset_selection[0].to_user_string(), r.partition_key) for r in changed] == [
        ("raw/device_telemetry", "2026-11-18")
    ]
