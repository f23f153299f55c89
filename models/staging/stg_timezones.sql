with

source as (
    {{ select_input('timezones_path', 'timezones', input_columns('timezones')) }}
),

known_timezones as (
    select
        lower(timezone_names.name) as lookup_name,
        min(timezone_names.name) as timezone_name
    from ({{ timezone_names() }}) as timezone_names
    group by lower(timezone_names.name)
),

cleaned as (
    select
        source.source_file,
        source.source_row_number,
        source.store_id as raw_store_id,
        source.timezone_str as raw_timezone_str,
        {{ trimmed_text('source.store_id') }} as store_id,
        known_timezones.timezone_name
    from source
    left join known_timezones
        on lower({{ trim_blanks('source.timezone_str') }}) = known_timezones.lookup_name
),

validated as (
    select
        *,
        case
            when store_id is null then 'empty store_id'
            when {{ invalid_store_id('store_id') }} then 'invalid store_id'
            when timezone_name is null then 'invalid timezone'
        end as invalid_reason
    from cleaned
),

ranked as (
    select
        *,
        row_number() over (
            partition by store_id, invalid_reason is null
            order by source_file desc, source_row_number desc
        ) as validity_rank_from_last
    from validated
),

with_reason as (
    select
        *,
        case
            when invalid_reason is not null then invalid_reason
            when validity_rank_from_last > 1 then 'superseded'
        end as rejection_reason
    from ranked
),

final as (
    select
        source_file,
        source_row_number,
        store_id,
        timezone_name,
        rejection_reason,
        case when rejection_reason is not null then {{ json_object_text({
            'store_id': 'raw_store_id', 'timezone_str': 'raw_timezone_str',
        }) }} end as raw_values
    from with_reason
)

select * from final
