-- Device power samples, latest load, as a view: always as current as raw.device_telemetry, for
-- readers that cannot wait for the next dbt run of the incremental stg_raw__device_telemetry
-- (billing meters colocation racks from it). power_kw stays as loaded (real): the invoice builder
-- and reconcile's independent recomputation average the same stored values, so they agree to the cent.
-- A filter on measured_at is pushed below the distinct on (it is a key column), so a bounded read
-- uses the (ts, device_id) index of raw.device_telemetry.
with

source as (
    {{ latest_load(source('raw', 'device_telemetry'), ['ts', 'device_id']) }}
),

renamed as (
    select
        device_id,
        ts as measured_at,
        power_kw,
        load_id
    from source
)

select * from renamed
