{%- set interpolation = setting('interpolation', 'nearest') %}
{%- if interpolation not in ['nearest', 'previous'] %}
    {{ exceptions.raise_compiler_error(
        "interpolation must be nearest or previous, got '" ~ interpolation ~ "'") }}
{%- endif %}
with

int_polls_deduplicated as (
    select * from {{ ref('int_polls_deduplicated') }}
),

int_report_clock as (
    select * from {{ ref('int_report_clock') }}
),

int_stores as (
    select
        store_id,
        store_key
    from {{ ref('int_stores') }}
),

{# Where a poll's interval begins; NULL for the first poll (no limit backwards). Only polls that
    change the status begin a run, so the others are dropped here. #}
run_starts as (
    select
        store_key,
        is_active,
        {%- if interpolation == 'nearest' %}
        {{ midpoint_timestamp('previous_polled_at', 'polled_at') }}
        {%- else %}
        case when previous_polled_at is not null then polled_at end
        {%- endif %} as status_from_at
    from int_polls_deduplicated
    where previous_is_active is distinct from is_active
),

runs as (
    select
        store_key,
        is_active,
        status_from_at,
        lead(status_from_at) over (
            partition by store_key order by status_from_at nulls first
        ) as status_to_at
    from run_starts
),

clipped as (
    select
        int_stores.store_id,
        runs.is_active,
        greatest(
            coalesce(runs.status_from_at, int_report_clock.last_week_start_at),
            int_report_clock.last_week_start_at
        ) as status_from_at,
        least(
            coalesce(runs.status_to_at, int_report_clock.report_at),
            int_report_clock.report_at
        ) as status_to_at
    from runs
    inner join int_stores on runs.store_key = int_stores.store_key
    cross join int_report_clock
),

final as (
    select * from clipped
    where status_to_at > status_from_at
)

select * from final
