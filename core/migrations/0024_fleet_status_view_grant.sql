-- reapply after restore: idempotent; the app role reads the fleet status view that 0023 recreated
-- (0015's schema-wide grant reached only the view that existed then): the ops page reads it.
grant select on ops.fleet_status_latest to hcp_app;
