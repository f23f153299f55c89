with

int_stores as (
    select
        store_id,
        store_key,
        timezone_name
    from {{ ref('int_stores') }}
),

int_open_intervals_merged as (
    select * from {{ ref('int_open_intervals_merged') }}
),

int_open_status_intervals as (
    select * from {{ ref('int_open_status_intervals') }}
),

int_polls_deduplicated as (
    select * from {{ ref('int_polls_deduplicated') }}
),

int_report_clock as (
    select * from {{ ref('int_report_clock') }}
),

business_hours as (
    select
        store_id,
        'business_hours' as element,
        opens_at as from_at,
        closes_at as to_at
    from int_open_intervals_merged
),

open_status as (
    select
        store_id,
        case when is_active then 'active' else 'inactive' end as element,
        from_at,
        to_at
    from int_open_status_intervals
),

{# The polls inside the week; earlier ones still shape the status but are off the picture. #}
polls as (
    select
        int_stores.store_id,
        case when int_polls_deduplicated.is_active then 'poll_active' else 'poll_inactive' end
            as element,
        int_polls_deduplicated.polled_at as from_at,
        int_polls_deduplicated.polled_at as to_at
    from int_polls_deduplicated
    inner join int_stores on int_polls_deduplicated.store_key = int_stores.store_key
    inner join int_report_clock
        on int_polls_deduplicated.polled_at >= int_report_clock.last_week_start_at
),

windows as (
    select
        'last_hour' as element,
        last_hour_start_at as from_at,
        report_at as to_at
    from int_report_clock
    union all
    select
        'last_day' as element,
        last_day_start_at as from_at,
        report_at as to_at
    from int_report_clock
    union all
    select
        'last_week' as element,
        last_week_start_at as from_at,
        report_at as to_at
    from int_report_clock
),

report_windows as (
    select
        int_stores.store_id,
        windows.element,
        windows.from_at,
        windows.to_at
    from int_stores
    cross join windows
),

{# A zone's offset changes at a whole quarter hour of UTC (every IANA rule in use does): a
    quarter-hour grid over the week, per zone in use, finds each change exactly. #}
quarter_hours as (
    select
        unnest(
            generate_series(
                date_trunc('hour', last_week_start_at), report_at, interval 15 minute
            )
        ) as at_utc
    from int_report_clock
),

zone_offsets as (
    select
        zones.timezone_name,
        quarter_hours.at_utc,
        date_diff(
            'minute',
            quarter_hours.at_utc,
            {{ utc_to_local('quarter_hours.at_utc', 'zones.timezone_name') }}
        ) as utc_offset_minutes
    from (select distinct timezone_name from int_stores) as zones
    cross join quarter_hours
),

zone_offset_changes as (
    select
        timezone_name,
        at_utc as changed_at
    from zone_offsets
    qualify lag(utc_offset_minutes) over (
        partition by timezone_name order by at_utc
    ) != utc_offset_minutes
),

offset_changes as (
    select
        int_stores.store_id,
        'utc_offset_change' as element,
        zone_offset_changes.changed_at as from_at,
        zone_offset_changes.changed_at as to_at
    from int_stores
    inner join zone_offset_changes on int_stores.timezone_name = zone_offset_changes.timezone_name
    cross join int_report_clock
    where zone_offset_changes.changed_at > int_report_clock.last_week_start_at
),

elements as (
    select * from business_hours
    union all
    select * from open_status
    union all
    select * from polls
    union all
    select * from report_windows
    union all
    select * from offset_changes
),

final as (
    select
        elements.store_id,
        elements.element,
        elements.from_at,
        elements.to_at,
        {{ utc_to_local('elements.from_at', 'int_stores.timezone_name') }} as from_at_local,
        {{ utc_to_local('elements.to_at', 'int_stores.timezone_name') }} as to_at_local,
        date_diff(
            'minute',
            elements.from_at,
            {{ utc_to_local('elements.from_at', 'int_stores.timezone_name') }}
        ) as utc_offset_minutes,
        int_stores.timezone_name
    from elements
    inner join int_stores on elements.store_id = int_stores.store_id
)

select * from final
