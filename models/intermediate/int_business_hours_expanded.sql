{#- A view, read once. With the `append_polls` setting (the service, whose next report is built
    on a copy of this database, its hours and zones unchanged) a table, and in a database that
    has it, only the local dates it lacks are expanded and those that left the week deleted.
    Local dates whose hours can reach into the week: zone offsets are within a day of UTC and an
    interval ends at most a day after its local date, so two spare days before and one after
    suffice. #}
{%- set days_before, days_after = 2, 1 %}
{{ config(
    materialized=('incremental' if setting('append_polls') else 'view'),
    incremental_strategy='append',
    pre_hook=(
        "{% if is_incremental() %}delete from {{ this }} where local_date not in (select "
        ~ "{{ date_spine('last_week_start_at', 'report_at', " ~ days_before ~ ", " ~ days_after
        ~ ") }} from {{ ref('int_report_clock') }}){% endif %}"
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

int_report_clock as (
    select * from {{ ref('int_report_clock') }}
),

week_dates as (
    select
        {{ date_spine('last_week_start_at', 'report_at', days_before, days_after) }}
            as local_date
    from int_report_clock
),

local_dates as (
    select week_dates.local_date from week_dates
    {% if is_incremental() %}
    where week_dates.local_date not in (select expanded.local_date from {{ this }} as expanded)
    {% endif %}
),

final as (
    {{ business_hours_on_local_dates('stg_menu_hours', 'int_stores', 'local_dates') }}
)

select * from final
