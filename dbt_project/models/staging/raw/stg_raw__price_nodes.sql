with

source as (
    {{ latest_load(source('raw', 'price_nodes'), ['market', 'node_name']) }}
),

renamed as (
    select
        market,
        node_name as price_node_name,
        node_type as price_node_type,
        timezone,
        load_id
    from source
)

select * from renamed
