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

polls as (
    select
        int_stores.store_key,
        stg_store_status.polled_at,
        stg_store_status.is_active
    from stg_store_status
    inner join int_report_clock on stg_store_status.polled_at <= int_report_clock.report_at
    inner join int_stores on stg_store_status.store_id = int_stores.store_id
),

final as (
    {{ deduplicated_polls('polls') }}
)

select * from final
