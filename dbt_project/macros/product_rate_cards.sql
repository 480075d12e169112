{#- The rate-card versions of each row's product (GPU model and workload type) that the row may meet:
    the customer's own cards (is_own) and the list cards (no customer), as two equality joins (not
    one join with an OR on the customer), so a row meets only its own cards and the list cards.
    `relation` is a CTE with customer_id, gpu_model and workload_type; `carry` its columns to keep;
    `effective_before` the bound on rate_cards.effective_at, e.g. "< placed.ended_at". -#}
{% macro product_rate_cards(relation, carry, effective_before) -%}
    {%- for is_own in [true, false] %}
    select
        {%- for column in carry %}
        {{ relation }}.{{ column }},
        {%- endfor %}
        {{ is_own }} as is_own,
        rate_cards.rate_card_id,
        rate_cards.effective_at,
        rate_cards.price_usd_per_gpu_hour,
        rate_cards.min_increment_seconds
    from {{ relation }}
    inner join rate_cards
        on
            {% if is_own %}{{ relation }}.customer_id = rate_cards.customer_id
            and {% endif %}{{ relation }}.gpu_model = rate_cards.gpu_model
            and {{ relation }}.workload_type = rate_cards.workload_type
    where {% if not is_own %}rate_cards.customer_id is null and {% endif %}rate_cards.effective_at {{ effective_before }}
    {%- if is_own %}
    union all
    {%- endif %}
    {%- endfor %}
{%- endmacro %}
