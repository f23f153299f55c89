{#- Local dates whose hours can reach into the week: zone offsets are within a day of UTC and an
    interval ends at most a day after its local date, so two spare days before and one after
    suffice. A view, or a table kept between builds (the `local_dates_to_expand` macro). #}
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

int_report_clock as (
    select * from {{ ref('int_report_clock') }}
),

local_dates as (
    {{ local_dates_to_expand(
        'int_report_clock', 'last_week_start_at', 'report_at', days_before=2, days_after=1
    ) }}
),

final as (
    {{ business_hours_on_local_dates('stg_menu_hours', 'int_stores', 'local_dates') }}
)

select * from final
