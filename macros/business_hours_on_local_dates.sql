{#- The business-hours rows of `menu_hours` (valid rows: store_id, day_of_week,
    start_time_local, end_time_local) on each date of `local_dates` (column local_date) whose
    weekday is the row's, as a local and a UTC interval, read in the zone of `stores`
    (store_id, timezone_name). An end in [23:59:59, 24:00) is the end of the day; an end before
    the start is on the next day; an end equal to the start closes 24 hours later. The models
    of the report week and of the status time both expand hours this way. -#}
{% macro business_hours_on_local_dates(menu_hours, stores, local_dates) -%}
    select
        localized.store_id,
        localized.timezone_name,
        localized.local_date,
        localized.opens_at_local,
        localized.closes_at_local,
        {{ local_to_utc('localized.opens_at_local', 'localized.timezone_name') }} as opens_at,
        {{ local_to_utc('localized.closes_at_local', 'localized.timezone_name') }} as closes_at
    from (
        select
            hours.store_id,
            {{ stores }}.timezone_name,
            {{ local_dates }}.local_date,
            {{ local_dates }}.local_date + hours.start_time_local as opens_at_local,
            case
                when hours.end_time_local > hours.start_time_local
                    then {{ local_dates }}.local_date + hours.end_time_local
                when hours.end_time_local < hours.start_time_local
                    then {{ local_dates }}.local_date + interval 1 day + hours.end_time_local
                else {{ local_dates }}.local_date + interval 1 day + hours.start_time_local
            end as closes_at_local
        from (
            select
                store_id,
                day_of_week,
                start_time_local,
                case
                    when
                        end_time_local >= interval 86399 second
                        and end_time_local < interval 24 hour
                        then interval 24 hour
                    else end_time_local
                end as end_time_local
            from {{ menu_hours }}
        ) as hours
        inner join {{ local_dates }}
            on hours.day_of_week = {{ weekday_from_monday(local_dates ~ '.local_date') }}
        inner join {{ stores }} on hours.store_id = {{ stores }}.store_id
    ) as localized
{%- endmacro %}
