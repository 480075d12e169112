-- PII (name, email, billing address, tax id) is encrypted in raw and never selected here.
with

source as (
    {{ latest_load(source('raw', 'customers'), ['customer_id']) }}
),

renamed as (
    select
        customer_id,
        timezone,
        tax_rate::numeric(6, 5) as tax_rate,
        customer_type,
        load_id
    from source
)

select * from renamed
