{# A CSV file's rows are not numbered here: numbering millions of polls serialises the read,
    and only the rejected ones need a number, which rejected_rows gives them.
    With the setting `future_limit_hours` (`storemon serve` sets 24; empty, the default, means
    no limit) a poll stamped more than that after the engine's clock is rejected, so that one
    bad clock cannot move every later report's "now" (docs/service.md, Bad requests). #}
{%- set future_limit_hours = setting('future_limit_hours') | string | trim %}
{%- if future_limit_hours and not future_limit_hours.isdigit() %}
    {{ exceptions.raise_compiler_error(
        "future_limit_hours must be a whole number of hours or empty, not '" ~ future_limit_hours ~ "'") }}
{%- endif %}
{#- With the setting `append_polls` the rows are added to the table the database
    has: the service makes a report from a copy of the last one's database and the polls
    received since (docs/service.md, A report made from the last one). #}
{{ config(
    materialized=('incremental' if setting('append_polls') else 'table'),
    incremental_strategy='append',
    pre_hook="{{ input_insertion_order('status_path', preserve=false) }}",
    post_hook="{{ input_insertion_order('status_path', preserve=true) }}",
) }}
with

source as (
    {{ select_input(
        'status_path', 'store_status', input_columns('store_status'), numbered=false) }}
),

cleaned as (
    select
        source_file,
        source_row_number,
        store_id as raw_store_id,
        status as raw_status,
        timestamp_utc as raw_timestamp_utc,
        {{ trimmed_text('store_id') }} as store_id,
        {#- lower(trim()) copies every string; real rows need neither. #}
        case
            when status in ('active', 'inactive') then status
            else lower({{ trim_blanks('status') }})
        end as status,
        {{ parse_timestamp_utc('timestamp_utc') }} as polled_at
    from source
),

validated as (
    select
        *,
        case
            when store_id is null then 'empty store_id'
            when {{ invalid_store_id('store_id') }} then 'invalid store_id'
            when status is null or status not in ('active', 'inactive') then 'unknown status'
            when polled_at is null then 'unparseable timestamp_utc'
            {%- if future_limit_hours %}
            when polled_at > {{ utc_now() }} + interval {{ future_limit_hours }} hour
                then 'timestamp in the future'
            {%- endif %}
        end as rejection_reason
    from cleaned
),

final as (
    select
        {# An accepted row that is not numbered (a CSV file's) keeps no place in its file:
           1.8 M copies of one path cost more to write than the parsing they would follow. #}
        case
            when rejection_reason is not null or source_row_number is not null then source_file
        end as source_file,
        source_row_number,
        store_id,
        status = 'active' as is_active,
        polled_at,
        rejection_reason,
        {# Kept for rejected rows only: accepted rows are fully described by the parsed columns,
           and 1.8 M copies of the raw text would only slow the table down. #}
        case when rejection_reason is not null then {{ json_object_text({
            'store_id': 'raw_store_id',
            'status': 'raw_status',
            'timestamp_utc': 'raw_timestamp_utc',
        }) }} end as raw_values
    from validated
)

select * from final
