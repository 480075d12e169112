-- Dagster's own database next to the platform's (orchestration/instance.py does the same for hcp serve).
create database hcp_dagster owner hcp;
