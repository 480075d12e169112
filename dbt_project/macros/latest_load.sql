{#- Raw tables are append-only: keep the newest load of each natural key (latest load wins). -#}
{% macro latest_load(relation, keys) -%}
    select distinct on ({{ keys | join(', ') }}) *
    from {{ relation }}
    order by {{ keys | join(', ') }}, load_id desc
{%- endmacro %}
