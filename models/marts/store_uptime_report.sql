{#- The report (SPEC §6 and §8): per store, the time open and active (uptime) and open and
    inactive (downtime) in the last hour (minutes), day and week (hours), unrounded. NULL for a
    store with no poll that counts: unknown, not zero. -#}
{%- set windows = [
    ('last_hour', 'last_hour_start_at', 60 * 1000000),
    ('last_day', 'last_day_start_at', 3600 * 1000000),
    ('last_week', 'last_week_start_at', 3600 * 1000000),
] %}
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

durations as (
    select
        int_open_status_intervals.store_id,
        {%- for status, is_active in [('uptime', 'true'), ('downtime', 'false')] %}
        {%- for window, start_column, microseconds_per_unit in windows %}
        sum(
            case when int_open_status_intervals.is_active = {{ is_active }} then
                {{ storemon.overlap_microseconds(
                    ['int_open_status_intervals.from_at', 'int_report_clock.' ~ start_column],
                    ['int_open_status_intervals.to_at', 'int_report_clock.report_at'],
                ) }}
            else 0 end
        ) / {{ microseconds_per_unit }} as {{ status }}_{{ window }}
        {{- "," if not (loop.last and status == 'downtime') }}
        {%- endfor %}
        {%- endfor %}
    from int_open_status_intervals
    cross join int_report_clock
    group by int_open_status_intervals.store_id
),

final as (
    select
        int_stores.store_id,
        {%- for status in ['uptime', 'downtime'] %}
        {%- for window, _, _ in windows %}
        {%- set measure = status ~ '_' ~ window %}
        case
            when int_status_intervals.store_id is not null then coalesce(durations.{{ measure }}, 0)
        end::double as {{ measure }}
        {{- "," if not (loop.last and status == 'downtime') }}
        {%- endfor %}
        {%- endfor %}
    from int_stores
    left join int_status_intervals on int_stores.store_id = int_status_intervals.store_id
    left join durations on int_stores.store_id = durations.store_id
)

select * from final
