{# The polls that count (SPEC §5): valid, at or before the report time, one per store and
    instant; where polls at one instant disagree, `inactive` wins. Keyed by `store_key`, the
    integer that int_status_intervals sorts on. #}
with

stg_store_status as (
    select
        store_id,
        polled_at,
        is_active
    from {{ ref('stg_store_status') }}
    where rejection_reason is null
),

int_report_clock as (
    select * from {{ ref('int_report_clock') }}
),

int_stores as (
    select
        store_id,
        store_key
    from {{ ref('int_stores') }}
),

final as (
    select
        int_stores.store_key,
        stg_store_status.polled_at,
        bool_and(stg_store_status.is_active) as is_active
    from stg_store_status
    inner join int_report_clock on stg_store_status.polled_at <= int_report_clock.report_at
    inner join int_stores on stg_store_status.store_id = int_stores.store_id
    group by int_stores.store_key, stg_store_status.polled_at
)

select * from final
