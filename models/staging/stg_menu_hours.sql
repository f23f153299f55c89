{# A CSV file's rows are not numbered here (it would serialise the read and the parsing after
    it); rejected_rows numbers the rejected ones. #}
with

source as (
    {{ select_input('hours_path', 'menu_hours', input_columns('menu_hours'), numbered=false) }}
),

cleaned as (
    select
        source_file,
        source_row_number,
        store_id as raw_store_id,
        day as raw_day,
        start_time_local as raw_start_time_local,
        end_time_local as raw_end_time_local,
        {{ trimmed_text('store_id') }} as store_id,
        case
            when {{ trim_blanks('day') }} in ('0', '1', '2', '3', '4', '5', '6')
                then cast({{ trim_blanks('day') }} as integer)
        end as day_of_week,
        {{ parse_local_time('start_time_local') }} as start_time_local,
        {{ parse_local_time('end_time_local') }} as end_time_local
    from source
),

validated as (
    select
        *,
        case
            when store_id is null then 'empty store_id'
            when {{ invalid_store_id('store_id') }} then 'invalid store_id'
            when day_of_week is null then 'day not in 0-6'
            when start_time_local is null then 'unparseable start_time_local'
            when end_time_local is null then 'unparseable end_time_local'
        end as rejection_reason
    from cleaned
),

final as (
    select
        {# As in stg_store_status: an accepted row that is not numbered keeps no file. #}
        case
            when rejection_reason is not null or source_row_number is not null then source_file
        end as source_file,
        source_row_number,
        store_id,
        day_of_week,
        start_time_local,
        end_time_local,
        rejection_reason,
        case when rejection_reason is not null then {{ json_object_text({
            'store_id': 'raw_store_id',
            'day': 'raw_day',
            'start_time_local': 'raw_start_time_local',
            'end_time_local': 'raw_end_time_local',
        }) }} end as raw_values
    from validated
)

select * from final
