{# Both settings are read as SQL values (the `setting_sql` macro), so the compiled SQL is the
    same whatever they are, and a later run can set them as variables. #}
{%- set status_time_sql = setting_sql('status_time', trimmed=true) %}
{%- set silent_after_sql = setting_sql('silent_after_minutes', '120', trimmed=true) %}
with

int_report_clock as (
    select report_at from {{ ref('int_report_clock') }}
),

run_settings as (
    select
        {{ status_time_sql }} as status_time,
        {{ silent_after_sql }} as silent_after_minutes
),

final as (
    select
        case
            when run_settings.status_time = '' then int_report_clock.report_at
            else coalesce(
                {{ parse_timestamp_utc('run_settings.status_time') }},
                {{ raise_error(
                    "'status_time ''' || run_settings.status_time || ''' is not a timestamp; "
                    ~ "use e.g. 2024-11-04T06:00:00Z or 2024-11-04 06:00:00'"
                ) }}
            )
        end as status_at,
        case
            when
                run_settings.silent_after_minutes != ''
                and regexp_extract(run_settings.silent_after_minutes, '^[0-9]{1,6}$', 0)
                = run_settings.silent_after_minutes
                then cast(run_settings.silent_after_minutes as integer)
            else {{ raise_error(
                "'silent_after_minutes ''' || run_settings.silent_after_minutes || ''' is not a "
                ~ "whole number of minutes from 0 to 999999'"
            ) }}
        end as silent_after_minutes
    from run_settings
    cross join int_report_clock
)

select * from final
