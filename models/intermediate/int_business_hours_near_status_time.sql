{#- An interval ends before the second local midnight after its date, so one holding T opened
    on T's local date or the day before, which is at most two days before T's UTC date (zone
    offsets are within a day of UTC). After T: enough for a stretch that runs on past
    T + 9 days and, when a DST gap empties a row's next occurrence, for the one a week later.
    A view, or a table kept as int_business_hours_expanded is (the `append_polls` setting). #}
{%- set days_before, days_after = 2, 15 %}
{{ config(
    materialized=('incremental' if setting('append_polls') else 'view'),
    incremental_strategy='append',
    pre_hook=(
        "{% if is_incremental() %}delete from {{ this }} where local_date not in (select "
        ~ "{{ date_spine('status_at', 'status_at', " ~ days_before ~ ", " ~ days_after
        ~ ") }} from {{ ref('int_status_clock') }}){% endif %}"
    ),
) }}
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

dates_near_status_time as (
    select {{ date_spine('status_at', 'status_at', days_before, days_after) }} as local_date
    from int_status_clock
),

local_dates as (
    select dates_near_status_time.local_date from dates_near_status_time
    {% if is_incremental() %}
    where
        dates_near_status_time.local_date not in (
            select expanded.local_date from {{ this }} as expanded
        )
    {% endif %}
),

final as (
    {{ business_hours_on_local_dates('stg_menu_hours', 'int_stores', 'local_dates') }}
)

select * from final
