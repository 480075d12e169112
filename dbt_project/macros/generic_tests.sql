{#- Money invariants, our own small generic tests (no dbt packages are reachable here). -#}

{#- Every value of the column is >= 0 (nulls pass; pair with not_null where it matters). -#}
{% test non_negative(model, column_name) %}
    select *
    from {{ model }}
    where {{ column_name }} < 0
{% endtest %}


{#- Row by row, the column equals the sum of `terms` (SQL expressions; prefix with '-' to subtract),
    within `tolerance` (absolute, in the column's unit). -#}
{% test sum_equals(model, column_name, terms, tolerance=0.000001) %}
    select *
    from {{ model }}
    where abs(
        coalesce({{ column_name }}, 0)
        - ({% for term in terms %}{% if term.startswith('-') %} - coalesce({{ term[1:] }}, 0){% else %} + coalesce({{ term }}, 0){% endif %}{% endfor %})
    ) > {{ tolerance }}
{% endtest %}
