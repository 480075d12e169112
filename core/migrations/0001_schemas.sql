-- The platform's schemas (DESIGN.md): raw loads, dbt layers, ML outputs, operations.
create schema if not exists raw;
create schema if not exists staging;
create schema if not exists intermediate;
create schema if not exists marts;
create schema if not exists ml;
create schema if not exists ops;
