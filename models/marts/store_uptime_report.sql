with

int_stores as (
    select store_id from {{ ref('int_stores') }}
),

int_open_status_intervals as (
    select * from {{ ref('int_open_status_intervals') }}
),

int_status_intervals as (
    select * from {{ ref('int_status_intervals') }}
),

int_report_clock as (
    select * from {{ ref('int_report_clock') }}
),

{# The stores with a poll that counts: only they have status intervals. #}
stores_with_polls as (
    select distinct store_id from int_status_intervals
),

{# Each interval's overlap with the three windows, in one pass (no row per window). #}
window_overlaps as (
    select
        int_open_status_intervals.store_id,
        int_open_status_intervals.is_active,
    {% for window_name in ['last_hour', 'last_day', 'last_week'] -%}
        {{ overlap_microseconds(
            ['int_open_status_intervals.from_at', 'int_report_clock.' ~ window_name ~ '_start_at'],
            ['int_open_status_intervals.to_at', 'int_report_clock.report_at'],
        ) }} as {{ window_name }}_microseconds{{ "," if not loop.last }}
    {% endfor %}
    from int_open_status_intervals
    cross join int_report_clock
),

{# Sums of whole microseconds, divided once: exact, and the same in any order (a sum of
    doubles can differ in its last bit with the order the plan adds them in). #}
durations as (
    select
        store_id,
        sum(last_hour_microseconds) filter (where is_active) / 60e6 as uptime_last_hour,
        sum(last_day_microseconds) filter (where is_active) / 3600e6 as uptime_last_day,
        sum(last_week_microseconds) filter (where is_active) / 3600e6 as uptime_last_week,
        sum(last_hour_microseconds) filter (where not is_active) / 60e6 as downtime_last_hour,
        sum(last_day_microseconds) filter (where not is_active) / 3600e6 as downtime_last_day,
        sum(last_week_microseconds) filter (where not is_active) / 3600e6 as downtime_last_week
    from window_overlaps
    group by store_id
),

{# A store with a poll that counts gets 0 where it has no time; one without gets NULL. #}
stores as (
    select
        int_stores.store_id,
        stores_with_polls.store_id is not null as has_polls
    from int_stores
    left join stores_with_polls on int_stores.store_id = stores_with_polls.store_id
),

final as (
    select
        stores.store_id,
        cast(
            case when stores.has_polls then coalesce(durations.uptime_last_hour, 0) end as double
        ) as uptime_last_hour,
        cast(
            case when stores.has_polls then coalesce(durations.uptime_last_day, 0) end as double
        ) as uptime_last_day,
        cast(
            case when stores.has_polls then coalesce(durations.uptime_last_week, 0) end as double
        ) as uptime_last_week,
        cast(
            case when stores.has_polls then coalesce(durations.downtime_last_hour, 0) end as double
        ) as downtime_last_hour,
        cast(
            case when stores.has_polls then coalesce(durations.downtime_last_day, 0) end as double
        ) as downtime_last_day,
        cast(
            case when stores.has_polls then coalesce(durations.downtime_last_week, 0) end as double
        ) as downtime_last_week
    from stores
    left join durations on stores.store_id = durations.store_id
)

select * from final
