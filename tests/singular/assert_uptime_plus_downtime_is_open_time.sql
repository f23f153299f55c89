{# docs/numbers.md, The measures: for every store with a poll that counts, uptime + downtime in
    each window equals the time the store is open in that window, computed here from the open
    intervals alone. #}
{{ config(tags=['invariant']) }}
with

store_uptime_report as (
    select * from {{ ref('store_uptime_report') }}
),

int_open_intervals_merged as (
    select * from {{ ref('int_open_intervals_merged') }}
),

int_report_clock as (
    select * from {{ ref('int_report_clock') }}
),

open_time as (
    select
        int_open_intervals_merged.store_id,
        {%- for window, start_column, unit in [
            ('last_hour', 'last_hour_start_at', 60e6),
            ('last_day', 'last_day_start_at', 3600e6),
            ('last_week', 'last_week_start_at', 3600e6),
        ] %}
    sum({{ overlap_microseconds(
            ['int_open_intervals_merged.opens_at', 'int_report_clock.' ~ start_column],
            ['int_open_intervals_merged.closes_at', 'int_report_clock.report_at'],
        ) }}) / {{ unit }} as open_{{ window }}{{ "," if not loop.last }}
    {%- endfor %}
    from int_open_intervals_merged
    cross join int_report_clock
    group by int_open_intervals_merged.store_id
),

final as (
    select
        store_uptime_report.store_id,
        store_uptime_report.uptime_last_hour + store_uptime_report.downtime_last_hour
            as measured_last_hour,
        coalesce(open_time.open_last_hour, 0) as open_last_hour,
        store_uptime_report.uptime_last_day + store_uptime_report.downtime_last_day
            as measured_last_day,
        coalesce(open_time.open_last_day, 0) as open_last_day,
        store_uptime_report.uptime_last_week + store_uptime_report.downtime_last_week
            as measured_last_week,
        coalesce(open_time.open_last_week, 0) as open_last_week
    from store_uptime_report
    left join open_time on store_uptime_report.store_id = open_time.store_id
    where store_uptime_report.uptime_last_week is not null
)

select * from final
where
    abs(measured_last_hour - open_last_hour) > 1e-6
    or abs(measured_last_day - open_last_day) > 1e-6
    or abs(measured_last_week - open_last_week) > 1e-6
