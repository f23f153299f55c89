with

stg_menu_hours as (
    select
        store_id,
        day_of_week,
        start_time_local,
        {# `23:59:59` (any fraction) means the end of the day. #}
        case
            when end_time_local >= interval 86399 second and end_time_local < interval 24 hour
                then interval 24 hour
            else end_time_local
        end as end_time_local
    from {{ ref('stg_menu_hours') }}
    where rejection_reason is null
),

int_stores as (
    select * from {{ ref('int_stores') }}
),

int_report_clock as (
    select * from {{ ref('int_report_clock') }}
),

{# Local dates whose hours can reach into the week: zone offsets are within a day of UTC and an
    interval ends at most a day after its local date, so two spare days before and one after
    suffice. #}
local_dates as (
    select
        {{ date_spine('last_week_start_at', 'report_at', days_before=2, days_after=1) }}
            as local_date
    from int_report_clock
),

localized as (
    select
        stg_menu_hours.store_id,
        int_stores.timezone_name,
        local_dates.local_date,
        local_dates.local_date + stg_menu_hours.start_time_local as opens_at_local,
        case
            when stg_menu_hours.end_time_local > stg_menu_hours.start_time_local
                then local_dates.local_date + stg_menu_hours.end_time_local
            when stg_menu_hours.end_time_local < stg_menu_hours.start_time_local
                then local_dates.local_date + interval 1 day + stg_menu_hours.end_time_local
            else local_dates.local_date + interval 1 day + stg_menu_hours.start_time_local
        end as closes_at_local
    from stg_menu_hours
    inner join local_dates
        on stg_menu_hours.day_of_week = {{ weekday_from_monday('local_dates.local_date') }}
    inner join int_stores on stg_menu_hours.store_id = int_stores.store_id
),

final as (
    select
        store_id,
        timezone_name,
        local_date,
        opens_at_local,
        closes_at_local,
        {{ local_to_utc('opens_at_local', 'timezone_name') }} as opens_at,
        {{ local_to_utc('closes_at_local', 'timezone_name') }} as closes_at
    from localized
)

select * from final
