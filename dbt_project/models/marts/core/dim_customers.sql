-- No PII: name, email, billing address and tax id stay encrypted in raw.customers.
with

customers as (
    select * from {{ ref('stg_raw__customers') }}
),

final as (
    select
        customer_id,
        customer_type,
        timezone,
        tax_rate
    from customers
)

select * from final
