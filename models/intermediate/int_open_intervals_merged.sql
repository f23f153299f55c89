with

int_business_hours_expanded as (
    select * from {{ ref('int_business_hours_expanded') }}
),

int_stores as (
    select * from {{ ref('int_stores') }}
),

int_report_clock as (
    select * from {{ ref('int_report_clock') }}
),

{# Identical intervals (duplicated rows, or rows that a DST change maps to the same instants)
    are kept once. Then (opens_at, closes_at) orders each store's intervals totally, so the two
    window passes below number the same rows the same way, whatever order ties arrive in; with
    duplicates kept, one pass could put a copy before another that starts an island, and join it
    to the island before. #}
clipped as (
    select distinct
        int_business_hours_expanded.store_id,
        greatest(int_business_hours_expanded.opens_at, int_report_clock.last_week_start_at)
            as opens_at,
        least(int_business_hours_expanded.closes_at, int_report_clock.report_at) as closes_at
    from int_business_hours_expanded
    cross join int_report_clock
),

{# Gaps and islands: an interval starts a new island when it opens after every earlier one
    (in opening order) has closed. A DST gap can make an interval empty or negative: dropped. #}
flagged as (
    select
        store_id,
        opens_at,
        closes_at,
        coalesce(
            opens_at > max(closes_at) over (
                partition by store_id order by opens_at, closes_at
                rows between unbounded preceding and 1 preceding
            ),
            true
        ) as starts_island
    from clipped
    where closes_at > opens_at
),

numbered as (
    select
        *,
        sum(cast(starts_island as integer)) over (
            partition by store_id order by opens_at, closes_at
            rows unbounded preceding
        ) as island_number
    from flagged
),

merged as (
    select
        store_id,
        min(opens_at) as opens_at,
        max(closes_at) as closes_at
    from numbered
    group by store_id, island_number
),

always_open as (
    select
        int_stores.store_id,
        int_report_clock.last_week_start_at as opens_at,
        int_report_clock.report_at as closes_at
    from int_stores
    cross join int_report_clock
    {# No clock (no poll at all and no report_time): no week, so no interval. #}
    where not int_stores.has_business_hours and int_report_clock.report_at is not null
),

final as (
    select * from merged
    union all
    select * from always_open
)

select * from final
