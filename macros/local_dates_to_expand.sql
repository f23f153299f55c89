{#- The local dates a business-hours expansion covers, from the date of `start_at` minus
    `days_before` days to that of `end_at` plus `days_after` (columns of the one-row model
    `clock`, which the calling model also has as a CTE of that name): a query for its
    `local_dates`. It also sets the model's materialization: a view, read once; with the
    `append_polls` setting (the service, whose next report is built on a copy of this database,
    its hours and zones unchanged) a table, and in a database that has it only the dates it
    lacks are expanded while a pre-hook deletes those no longer covered, so that it holds what a
    full build does. -#}
{% macro local_dates_to_expand(clock, start_at, end_at, days_before, days_after) -%}
    {%- set spine = "date_spine('" ~ start_at ~ "', '" ~ end_at ~ "', "
        ~ days_before ~ ", " ~ days_after ~ ")" -%}
    {{- config(
        materialized=('incremental' if setting('append_polls') else 'view'),
        incremental_strategy='append',
        pre_hook=(
            "{% if is_incremental() %}delete from {{ this }} where local_date not in (select {{ "
            ~ spine ~ " }} from {{ ref('" ~ clock ~ "') }}){% endif %}"
        ),
    ) -}}
    select covered.local_date
    from (
        select {{ date_spine(start_at, end_at, days_before, days_after) }} as local_date
        from {{ clock }}
    ) as covered
    {%- if is_incremental() %}
    where covered.local_date not in (select expanded.local_date from {{ this }} as expanded)
    {%- endif %}
{%- endmacro %}
