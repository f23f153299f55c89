{# Each business-hours row on each local date around the status time T (int_status_clock), as
    a local and a UTC interval, expanded exactly as for the report week. Overlaps are still
    there; int_store_hours_at_status_time merges them. #}
with

stg_menu_hours as (
    select
        store_id,
        day_of_week,
        start_time_local,
        end_time_local
    from {{ ref('stg_menu_hours') }}
    where rejection_reason is null
),

int_stores as (
    select * from {{ ref('int_stores') }}
),

int_status_clock as (
    select status_at from {{ ref('int_status_clock') }}
),

{# An interval holding T opened at most two local dates before T's (zone offsets are within a
    day of UTC): three spare days before. After T: enough for an interval that runs on past
    T + 9 days and, when a DST gap empties a row's next occurrence, for the one a week later. #}
local_dates as (
    select
        {{ date_spine('status_at', 'status_at', days_before=3, days_after=16) }} as local_date
    from int_status_clock
),

final as (
    {{ business_hours_on_local_dates('stg_menu_hours', 'int_stores', 'local_dates') }}
)

select * from final
