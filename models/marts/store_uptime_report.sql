{# The report (SPEC §6 and §8): per store, the time open and active (uptime) and open and
   inactive (downtime) in the last hour (minutes), day and week (hours), unrounded. NULL for a
   store with no poll that counts: unknown, not zero. #}
with

int_stores as (
    select store_id from {{ ref('int_stores') }}
),

int_open_status_intervals as (
    select * from {{ ref('int_open_status_intervals') }}
),

int_status_intervals as (
    select distinct store_id from {{ ref('int_status_intervals') }}
),

int_report_clock as (
    select * from {{ ref('int_report_clock') }}
),

report_windows as (
    select
        'last_hour' as window_name,
        last_hour_start_at as window_start_at,
        report_at as window_end_at
    from int_report_clock
    union all
    select
        'last_day' as window_name,
        last_day_start_at as window_start_at,
        report_at as window_end_at
    from int_report_clock
    union all
    select
        'last_week' as window_name,
        last_week_start_at as window_start_at,
        report_at as window_end_at
    from int_report_clock
),

window_overlaps as (
    select
        int_open_status_intervals.store_id,
        int_open_status_intervals.is_active,
        report_windows.window_name,
        {{ overlap_microseconds(
            ['int_open_status_intervals.from_at', 'report_windows.window_start_at'],
            ['int_open_status_intervals.to_at', 'report_windows.window_end_at'],
        ) }} as overlap_microseconds
    from int_open_status_intervals
    cross join report_windows
),

{# Sums of whole microseconds, divided once: exact, and the same in any order (a sum of
    doubles can differ in its last bit with the order the plan adds them in). #}
durations as (
    select
        store_id,
        sum(overlap_microseconds) filter (
            where is_active and window_name = 'last_hour'
        ) / 60e6 as uptime_last_hour,
        sum(overlap_microseconds) filter (
            where is_active and window_name = 'last_day'
        ) / 3600e6 as uptime_last_day,
        sum(overlap_microseconds) filter (
            where is_active and window_name = 'last_week'
        ) / 3600e6 as uptime_last_week,
        sum(overlap_microseconds) filter (
            where not is_active and window_name = 'last_hour'
        ) / 60e6 as downtime_last_hour,
        sum(overlap_microseconds) filter (
            where not is_active and window_name = 'last_day'
        ) / 3600e6 as downtime_last_day,
        sum(overlap_microseconds) filter (
            where not is_active and window_name = 'last_week'
        ) / 3600e6 as downtime_last_week
    from window_overlaps
    group by store_id
),

{# A store with a poll that counts gets 0 where it has no time; one without gets NULL. #}
stores as (
    select
        int_stores.store_id,
        int_status_intervals.store_id is not null as has_polls
    from int_stores
    left join int_status_intervals on int_stores.store_id = int_status_intervals.store_id
),

final as (
    select
        stores.store_id,
        case when stores.has_polls then coalesce(durations.uptime_last_hour, 0) end::double
            as uptime_last_hour,
        case when stores.has_polls then coalesce(durations.uptime_last_day, 0) end::double
            as uptime_last_day,
        case when stores.has_polls then coalesce(durations.uptime_last_week, 0) end::double
            as uptime_last_week,
        case when stores.has_polls then coalesce(durations.downtime_last_hour, 0) end::double
            as downtime_last_hour,
        case when stores.has_polls then coalesce(durations.downtime_last_day, 0) end::double
            as downtime_last_day,
        case when stores.has_polls then coalesce(durations.downtime_last_week, 0) end::double
            as downtime_last_week
    from stores
    left join durations on stores.store_id = durations.store_id
)

select * from final
