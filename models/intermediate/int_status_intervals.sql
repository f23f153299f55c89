{%- set interpolation = setting('interpolation', 'nearest') %}
{%- if interpolation not in ['nearest', 'previous'] %}
    {{ exceptions.raise_compiler_error(
        "interpolation must be nearest or previous, got '" ~ interpolation ~ "'") }}
{%- endif %}
with

int_status_changes as (
    select * from {{ ref('int_status_changes') }}
),

int_report_clock as (
    select * from {{ ref('int_report_clock') }}
),

{# Where a change's run begins; NULL for a store's first poll (no limit backwards). Only the
    changes at or before the report time count: a change depends on its poll and the instant
    before it alone, so these are the changes of the polls that count. #}
run_starts as (
    select
        int_status_changes.store_id,
        int_status_changes.is_active,
        {%- if interpolation == 'nearest' %}
        {{ midpoint_timestamp(
            'int_status_changes.previous_polled_at', 'int_status_changes.polled_at') }}
        {%- else %}
        case
            when int_status_changes.previous_polled_at is not null
                then int_status_changes.polled_at
        end
        {%- endif %} as status_from_at
    from int_status_changes
    inner join int_report_clock on int_status_changes.polled_at <= int_report_clock.report_at
),

runs as (
    select
        store_id,
        is_active,
        status_from_at,
        lead(status_from_at) over (
            partition by store_id order by status_from_at nulls first
        ) as status_to_at
    from run_starts
),

clipped as (
    select
        runs.store_id,
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
    cross join int_report_clock
),

final as (
    select * from clipped
    where status_to_at > status_from_at
)

select * from final
