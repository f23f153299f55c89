{# Every input row that could not be used (SPEC §7): where it came from, its raw values (a JSON
    object keyed by column) and why it was rejected. #}
with

stg_store_status as (
    select
        source_file,
        source_row_number,
        to_json({
            'store_id': raw_store_id, 'status': raw_status, 'timestamp_utc': raw_timestamp_utc
        })::varchar as raw_values,
        rejection_reason
    from {{ ref('stg_store_status') }}
    where rejection_reason is not null
),

stg_menu_hours as (
    select
        source_file,
        source_row_number,
        to_json({
            'store_id': raw_store_id,
            'day': raw_day,
            'start_time_local': raw_start_time_local,
            'end_time_local': raw_end_time_local
        })::varchar as raw_values,
        rejection_reason
    from {{ ref('stg_menu_hours') }}
    where rejection_reason is not null
),

stg_timezones as (
    select
        source_file,
        source_row_number,
        to_json({ 'store_id': raw_store_id, 'timezone_str': raw_timezone_str })::varchar
            as raw_values,
        rejection_reason
    from {{ ref('stg_timezones') }}
    where rejection_reason is not null
),

unioned as (
    select
        'store_status' as input_name,
        *
    from stg_store_status
    union all
    select
        'menu_hours' as input_name,
        *
    from stg_menu_hours
    union all
    select
        'timezones' as input_name,
        *
    from stg_timezones
),

final as (
    select
        input_name,
        source_file,
        source_row_number,
        raw_values,
        rejection_reason
    from unioned
)

select * from final
