{# Each measure, and uptime + downtime, lies between 0 and its window's length (60 minutes, 24
    and 168 hours). A tiny tolerance absorbs floating-point division. #}
{{ config(tags=['invariant']) }}
select * from {{ ref('store_uptime_report') }}
where not (
    least(
        uptime_last_hour, downtime_last_hour, uptime_last_day, downtime_last_day,
        uptime_last_week, downtime_last_week
    ) >= 0
    and uptime_last_hour + downtime_last_hour <= 60 + 1e-9
    and uptime_last_day + downtime_last_day <= 24 + 1e-9
    and uptime_last_week + downtime_last_week <= 168 + 1e-9
)
