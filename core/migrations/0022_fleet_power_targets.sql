-- What each miner's firmware lets the controller do (pause, resume, power_target) and the power
-- target it runs at: a facility over its cap is first met by lowering power targets, and a trimmed
-- miner gets its nominal power back when there is room (kernels/fleet/safety.py).
alter table raw.fleet_status
    add column if not exists controls        text[],
    add column if not exists power_target_kw real;
