{#-
  The time window an incremental model (re)builds: [start, end) as SQL timestamptz expressions.

  - vars `start` / `end` (Dagster partitions, backfills) win when given;
  - otherwise, on an incremental run: the newest `column` already in the table, truncated to
    `grain`, minus var `lookback_hours` (late-arriving data inside that window is picked up);
  - otherwise (first build, --full-refresh): everything.

  The bound is computed with one query before the model runs and rendered as a literal, so the
  filters on raw tables stay index-friendly. The strategy `window_replace` deletes exactly this
  window from the table before inserting the new rows, so a re-run never leaves stale rows.
-#}
{% macro incremental_window(column, grain='hour') -%}
    {%- set start_var = var('start', none) -%}
    {%- set end_var = var('end', none) -%}
    {%- set window_end = "'infinity'::timestamptz" -%}
    {%- if end_var -%}
        {%- set window_end = "'" ~ end_var ~ "'::timestamptz" -%}
    {%- endif -%}
    {%- set window_start = "'-infinity'::timestamptz" -%}
    {%- if start_var -%}
        {%- set window_start = "date_trunc('" ~ grain ~ "', '" ~ start_var ~ "'::timestamptz, 'UTC')" -%}
    {%- elif is_incremental() and execute -%}
        {%- set newest_query -%}
            select extract(epoch from date_trunc('{{ grain }}', max({{ column }}) - interval '{{ var("lookback_hours") }} hours', 'UTC'))::bigint
            from {{ this }}
        {%- endset -%}
        {%- set newest = run_query(newest_query).columns[0].values()[0] -%}
        {%- if newest is not none -%}
            {%- set window_start = "to_timestamp(" ~ newest ~ ")" -%}
        {%- endif -%}
    {%- endif -%}
    {{ return({'start': window_start, 'end': window_end}) }}
{%- endmacro %}


{#- Custom incremental strategy: replace the model's window (config window_column / window_grain). -#}
{% macro get_incremental_window_replace_sql(arg_dict) -%}
    {%- set column = config.require('window_column') -%}
    {%- set bounds = incremental_window(column, config.get('window_grain', 'hour')) -%}
    {%- set dest_columns = arg_dict['dest_columns'] -%}
    {%- set dest_cols_csv = get_quoted_csv(dest_columns | map(attribute='name')) -%}
    delete from {{ arg_dict['target_relation'] }}
    where {{ column }} >= {{ bounds.start }} and {{ column }} < {{ bounds.end }};

    insert into {{ arg_dict['target_relation'] }} ({{ dest_cols_csv }})
    select {{ dest_cols_csv }}
    from {{ arg_dict['temp_relation'] }}
{%- endmacro %}
