{#-
  The time window an incremental model (re)builds: [start, end) as SQL timestamptz expressions.

  - vars `start` / `end` (Dagster partitions, backfills) win when given;
  - otherwise, on an incremental run: the newest `column` already in the table, truncated to
    `grain`, minus var `lookback_hours` (late-arriving data inside that window is picked up), or
    earlier when the model's config `late_source` (a raw table) got rows for older times since the
    model's last run (a day's real-time prices landing after its telemetry);
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
        {%- set late = late_source_start(grain) -%}
        {%- if newest is not none and late is not none and late < newest -%}
            {%- set newest = late -%}
        {%- endif -%}
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
    from {{ arg_dict['temp_relation'] }};
{%- endmacro %}


{#-
  The oldest time (epoch seconds, truncated to `grain`) in the rows of config `late_source` that
  loads finished after the model's watermark carry; none without a late source or a watermark.
-#}
{% macro late_source_start(grain) -%}
    {%- set late = config.get('late_source') -%}
    {%- if not late or not execute -%}{{ return(none) }}{%- endif -%}
    {%- set query -%}
        select extract(epoch from date_trunc('{{ grain }}', min(rows.{{ late.column }}), 'UTC'))::bigint
        from raw.load_log as loads
        inner join {{ source('raw', late.table) }} as rows on rows.load_id = loads.load_id
        where loads.finished_at > (
            select watermarks.read_until from ops.dbt_source_watermarks as watermarks
            where watermarks.model = '{{ this.identifier }}' and watermarks.source = '{{ late.table }}'
        )
    {%- endset -%}
    {{ return(run_query(query).columns[0].values()[0]) }}
{%- endmacro %}


{#-
  Record that the model has read its late source: every load finished before this transaction
  began, less a margin (a load sets finished_at just before it commits), is in the rows just built.
  A post-hook of every model (dbt_project.yml), inside the build's transaction: a full build records
  it too, or the first incremental run after it would read only the lookback.
-#}
{% macro late_source_mark_read() -%}
    {%- set late = config.get('late_source') -%}
    {%- if late -%}
    insert into ops.dbt_source_watermarks (model, source, read_until)
    values ('{{ this.identifier }}', '{{ late.table }}', now() - interval '10 minutes')
    on conflict (model, source) do update set read_until = excluded.read_until
    {%- endif -%}
{%- endmacro %}
