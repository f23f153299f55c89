{# The polls and business hours are staged unnumbered; the rejected_input_rows macro numbers
    their rejected rows. #}
with

rejected_store_status as (
    {{ rejected_input_rows(
        'stg_store_status', 'status_path', 'store_status', input_columns('store_status')) }}
),

rejected_menu_hours as (
    {{ rejected_input_rows(
        'stg_menu_hours', 'hours_path', 'menu_hours', input_columns('menu_hours')) }}
),

rejected_timezones as (
    select
        source_file,
        source_row_number,
        raw_values,
        rejection_reason
    from {{ ref('stg_timezones') }}
    where rejection_reason is not null
),

final as (
    select
        'store_status' as input_name,
        source_file,
        source_row_number,
        raw_values,
        rejection_reason
    from rejected_store_status
    union all
    select
        'menu_hours' as input_name,
        source_file,
        source_row_number,
        raw_values,
        rejection_reason
    from rejected_menu_hours
    union all
    select
        'timezones' as input_name,
        source_file,
        source_row_number,
        raw_values,
        rejection_reason
    from rejected_timezones
)

select * from final
