with

int_open_intervals_merged as (
    select * from {{ ref('int_open_intervals_merged') }}
),

int_status_intervals as (
    select * from {{ ref('int_status_intervals') }}
),

final as (
    select
        int_status_intervals.store_id,
        int_status_intervals.is_active,
        greatest(int_status_intervals.status_from_at, int_open_intervals_merged.opens_at)
            as from_at,
        least(int_status_intervals.status_to_at, int_open_intervals_merged.closes_at) as to_at
    from int_status_intervals
    inner join int_open_intervals_merged
        on
            int_status_intervals.store_id = int_open_intervals_merged.store_id
            and int_status_intervals.status_from_at < int_open_intervals_merged.closes_at
            and int_status_intervals.status_to_at > int_open_intervals_merged.opens_at
)

select * from final
