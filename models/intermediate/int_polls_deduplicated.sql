{# The polls that count (SPEC §5): valid, at or before the report time, one per store and
    instant; where polls at one instant disagree, `inactive` wins. #}
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

final as (
    select
        stg_store_status.store_id,
        stg_store_status.polled_at,
        bool_and(stg_store_status.is_active) as is_active
    from stg_store_status
    inner join int_report_clock on stg_store_status.polled_at <= int_report_clock.report_at
    group by stg_store_status.store_id, stg_store_status.polled_at
)

select * from final
