{# Every input row that could not be used (SPEC §7): where it came from, its raw values (a JSON
    object keyed by column) and why it was rejected. #}
with

stg_store_status as (
    select * from {{ ref('stg_store_status') }}
    where rejection_reason is not null
),

stg_menu_hours as (
    select * from {{ ref('stg_menu_hours') }}
    where rejection_reason is not null
),

stg_timezones as (
    select * from {{ ref('stg_timezones') }}
    where rejection_reason is not null
),

final as (
    select
        'store_status' as input_name,
        source_file,
        source_row_number,
        raw_values,
        rejection_reason
    from stg_store_status
    union all
    select
        'menu_hours' as input_name,
        source_file,
        source_row_number,
        raw_values,
        rejection_reason
    from stg_menu_hours
    union all
    select
        'timezones' as input_name,
        source_file,
        source_row_number,
        raw_values,
        rejection_reason
    from stg_timezones
)

select * from final
