with

int_stores as (
    select
        store_id,
        has_business_hours
    from {{ ref('int_stores') }}
),

int_status_clock as (
    select status_at from {{ ref('int_status_clock') }}
),

int_business_hours_near_status_time as (
    select
        store_id,
        opens_at,
        closes_at
    from {{ ref('int_business_hours_near_status_time') }}
),

{# Only intervals that end after T can hold T or open after it; one that a DST gap left empty
    (or reversed) opens nothing. #}
intervals_ending_after as (
    select
        int_business_hours_near_status_time.store_id,
        int_business_hours_near_status_time.opens_at,
        int_business_hours_near_status_time.closes_at,
        int_business_hours_near_status_time.opens_at <= int_status_clock.status_at
            as holds_status_time
    from int_business_hours_near_status_time
    cross join int_status_clock
    where
        int_business_hours_near_status_time.closes_at
        > int_business_hours_near_status_time.opens_at
        and int_business_hours_near_status_time.closes_at > int_status_clock.status_at
),

{# Those that open within 9 days of T decide whether the stretch holding T ends by then: an
    interval opening later can only continue an end that is later too. #}
intervals_opening_within_nine_days as (
    select
        intervals_ending_after.store_id,
        intervals_ending_after.opens_at,
        intervals_ending_after.closes_at
    from intervals_ending_after
    cross join int_status_clock
    where intervals_ending_after.opens_at <= int_status_clock.status_at + interval 9 day
),

{# The stretch holding T ends at the first end after T that no interval continues: none opens
    at or before that instant and closes after it (so touching intervals continue each other). #}
stretch_ends as (
    select
        ending.store_id,
        min(ending.closes_at) as closes_at
    from intervals_opening_within_nine_days as ending
    left join intervals_opening_within_nine_days as continuing
        on
            ending.store_id = continuing.store_id
            and ending.closes_at >= continuing.opens_at
            and ending.closes_at < continuing.closes_at
    where continuing.store_id is null
    group by ending.store_id
),

hours_at_status_time as (
    select
        store_id,
        bool_or(holds_status_time) as is_open,
        min(case when not holds_status_time then opens_at end) as next_opens_at
    from intervals_ending_after
    group by store_id
),

final as (
    select
        int_stores.store_id,
        case
            when int_status_clock.status_at is null then null
            when not int_stores.has_business_hours then true
            else coalesce(hours_at_status_time.is_open, false)
        end as is_open,
        case
            when
                int_stores.has_business_hours
                and hours_at_status_time.is_open
                and stretch_ends.closes_at <= int_status_clock.status_at + interval 9 day
                then stretch_ends.closes_at
        end as closes_at,
        case
            when int_stores.has_business_hours and not hours_at_status_time.is_open
                then hours_at_status_time.next_opens_at
        end as opens_at
    from int_stores
    cross join int_status_clock
    left join hours_at_status_time on int_stores.store_id = hours_at_status_time.store_id
    left join stretch_ends on int_stores.store_id = stretch_ends.store_id
)

select * from final
