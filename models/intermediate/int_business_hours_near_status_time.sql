{#- An interval ends before the second local midnight after its date, so one holding T opened
    on T's local date or the day before, which is at most two days before T's UTC date (zone
    offsets are within a day of UTC). After T: enough for a stretch that runs on past
    T + 9 days and, when a DST gap empties a row's next occurrence, for the one a week later.
    A view, or a table kept between builds (the `local_dates_to_expand` macro). #}
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

local_dates as (
    {{ local_dates_to_expand(
        'int_status_clock', 'status_at', 'status_at', days_before=2, days_after=15
    ) }}
),

final as (
    {{ business_hours_on_local_dates('stg_menu_hours', 'int_stores', 'local_dates') }}
)

select * from final
