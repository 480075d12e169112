"""The ML domain's Definitions: forecasting and anomaly assets, jobs and schedules, merged once."""

import dagster as dg

from assets.anomalies import defs as anomalies_defs
from assets.forecasting import defs as forecasting_defs
from assets.series_anomalies import defs as series_anomalies_defs

defs = dg.Definitions.merge(forecasting_defs, anomalies_defs, series_anomalies_defs)
