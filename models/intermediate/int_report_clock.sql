{%- set report_time = setting('report_time') | string | trim %}
{%- set report_time_sql = setting_sql('report_time', trimmed=true) %}
with

{% if report_time %}
clock as (
    select
        coalesce(
            {{ parse_timestamp_utc(report_time_sql) }},
            {{ raise_error(
                "'report_time ''' || " ~ report_time_sql ~ " || ''' is not a timestamp; "
                ~ "use e.g. 2024-11-04T06:00:00Z or 2024-11-04 06:00:00'"
            ) }}
        ) as report_at
),
{% else %}
valid_polls as (
    select polled_at from {{ ref('stg_store_status') }}
    where rejection_reason is null
),

clock as (
    select max(polled_at) as report_at
    from valid_polls
),
{% endif %}

final as (
    select
        report_at,
        report_at - interval 1 hour as last_hour_start_at,
        report_at - interval 24 hour as last_day_start_at,
        report_at - interval 168 hour as last_week_start_at
    from clock
)

select * from final
