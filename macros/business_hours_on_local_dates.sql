{#- The business-hours rows of `menu_hours` (valid rows: store_id, day_of_week,
    start_time_local, end_time_local) on each date of `local_dates` (column local_date) whose
    weekday is the row's, as a local and a UTC interval, read in the zone of `stores`
    (store_id, timezone_name). An end in [23:59:59, 24:00) is the end of the day; an end before
    the start is on the next day; an end equal to the start closes 24 hours later. The models
    of the report week and of the status time both expand hours this way. A zone's wall times
    repeat across its stores (the same opening hour every day), so each distinct (zone, wall
    time) is converted once and joined back: the conversion is the costly part. -#}
{% macro business_hours_on_local_dates(menu_hours, stores, local_dates) -%}
    with localized as (
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
    ),

    wall_times as (
        select timezone_name, opens_at_local as local_at from localized
        union
        select timezone_name, closes_at_local as local_at from localized
    ),

    converted as (
        select
            timezone_name,
            local_at,
            {{ local_to_utc('local_at', 'timezone_name') }} as utc_at
        from wall_times
    ),

    {#- Each conversion joins on its own: the zone is in both conditions, and DuckDB's join
        order optimizer, left free, joined the opening conversions to the closing ones by zone
        first: the square of a zone's wall times, 18 M rows for a Loop-sized fleet's 300 k. #}
    opened as {{ materialized_keyword() }} (
        select
            localized.*,
            opens.utc_at as opens_at
        from localized
        inner join converted as opens
            on
                localized.timezone_name = opens.timezone_name
                and localized.opens_at_local = opens.local_at
    )

    select
        opened.store_id,
        opened.timezone_name,
        opened.local_date,
        opened.opens_at_local,
        opened.closes_at_local,
        opened.opens_at,
        closes.utc_at as closes_at
    from opened
    inner join converted as closes
        on
            opened.timezone_name = closes.timezone_name
            and opened.closes_at_local = closes.local_at
{%- endmacro %}
