{# Every input row that could not be used (SPEC §7): where it came from, its raw values (a JSON
    object keyed by column) and why it was rejected. #}
{#- stg_store_status does not number a CSV file's rows (it would serialise the read). Only when
    some are rejected is the file read again, numbered, and its rows matched to the rejected
    ones by their raw values: rows with equal raw values are equal in every other column too. #}
{%- set number_rejected_polls = execute and run_query(
    "select count(*) from " ~ ref('stg_store_status')
    ~ " where rejection_reason is not null and source_row_number is null"
).columns[0].values()[0] > 0 %}
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

{%- if number_rejected_polls %}

status_rows_numbered as (
    {{ select_input('status_path', 'store_status', [['store_id'], ['status'], ['timestamp_utc']]) }}
),

rejected_status_values as (
    select distinct
        source_file,
        raw_values,
        rejection_reason,
        {{ json_text_field('raw_values', 'store_id') }} as raw_store_id,
        {{ json_text_field('raw_values', 'status') }} as raw_status,
        {{ json_text_field('raw_values', 'timestamp_utc') }} as raw_timestamp_utc
    from stg_store_status
),

rejected_status as (
    select
        rejected_status_values.source_file,
        status_rows_numbered.source_row_number,
        rejected_status_values.raw_values,
        rejected_status_values.rejection_reason
    from status_rows_numbered
    inner join rejected_status_values
        on
            status_rows_numbered.store_id
            is not distinct from rejected_status_values.raw_store_id
            and status_rows_numbered.status
            is not distinct from rejected_status_values.raw_status
            and status_rows_numbered.timestamp_utc
            is not distinct from rejected_status_values.raw_timestamp_utc
),
{%- else %}

rejected_status as (
    select
        source_file,
        source_row_number,
        raw_values,
        rejection_reason
    from stg_store_status
),
{%- endif %}

final as (
    select
        'store_status' as input_name,
        source_file,
        source_row_number,
        raw_values,
        rejection_reason
    from rejected_status
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
