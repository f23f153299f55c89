with

stg_store_status as (
    select store_id from {{ ref('stg_store_status') }}
    where rejection_reason is null
),

stg_menu_hours as (
    select store_id from {{ ref('stg_menu_hours') }}
    where rejection_reason is null
),

stg_timezones as (
    select
        store_id,
        timezone_name
    from {{ ref('stg_timezones') }}
    where rejection_reason is null
),

store_ids as (
    select store_id from stg_store_status
    union
    select store_id from stg_menu_hours
    union
    select store_id from stg_timezones
),

stores_with_hours as (
    select distinct store_id from stg_menu_hours
),

final as (
    select
        store_ids.store_id,
        {# A dense integer key: sorting and grouping millions of polls on it is about a third
            faster than on 19-character ids. Numbered in store_id order, so it is deterministic. #}
        row_number() over (order by store_ids.store_id)::integer as store_key,
        coalesce(
            stg_timezones.timezone_name, {{ setting_sql('default_timezone', 'America/Chicago') }}
        ) as timezone_name,
        stg_timezones.store_id is null as uses_default_timezone,
        stores_with_hours.store_id is not null as has_business_hours
    from store_ids
    left join stg_timezones on store_ids.store_id = stg_timezones.store_id
    left join stores_with_hours on store_ids.store_id = stores_with_hours.store_id
)

select * from final
