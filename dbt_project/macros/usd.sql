{#- The one rounding rule for money in the marts: NUMERIC, 6 decimals (invoices round to cents). -#}
{% macro usd(expression) -%}
    round(({{ expression }})::numeric, 6)
{%- endmacro %}
