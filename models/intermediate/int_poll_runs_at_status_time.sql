{# An instant is inactive when any of its polls is. Only per-store aggregates and one join on
    the polls of stores whose last poll is inactive: no grouping of every (store, instant)
    pair. #}
with

stg_store_status as (
    select
        store_id,
        polled_at,
        is_active
    from {{ ref('stg_store_status') }}
    where rejection_reason is null
),

int_status_clock as (
    select status_at from {{ ref('int_status_clock') }}
),

polls as (
    select
        stg_store_status.store_id,
        stg_store_status.polled_at,
        stg_store_status.is_active
    from stg_store_status
    inner join int_status_clock on stg_store_status.polled_at <= int_status_clock.status_at
),

{# The last instant is inactive exactly when it is also the latest instant with an inactive
    poll. #}
last_polls as (
    select
        store_id,
        min(polled_at) as first_poll_at,
        max(polled_at) as last_poll_at,
        max(case when not is_active then polled_at end) as last_inactive_at
    from polls
    group by store_id
),

inactive_polls as (
    select
        store_id,
        polled_at
    from polls
    where not is_active
),

{# A store down at its last poll has been down since just after its latest instant polled
    active only (no inactive poll at that instant). #}
active_only_polls_of_down_stores as (
    select
        polls.store_id,
        polls.polled_at
    from polls
    inner join last_polls
        on
            polls.store_id = last_polls.store_id
            and last_polls.last_inactive_at = last_polls.last_poll_at
    left join inactive_polls
        on
            polls.store_id = inactive_polls.store_id
            and polls.polled_at = inactive_polls.polled_at
    where polls.is_active and inactive_polls.store_id is null
),

latest_active_only as (
    select
        store_id,
        max(polled_at) as active_at
    from active_only_polls_of_down_stores
    group by store_id
),

{# The run of the last status begins after its latest instant of the other status (NULL: the
    run goes back to the store's first poll). #}
run_breaks as (
    select
        last_polls.store_id,
        last_polls.first_poll_at,
        last_polls.last_poll_at,
        coalesce(last_polls.last_inactive_at != last_polls.last_poll_at, true)
            as last_is_active,
        case
            when last_polls.last_inactive_at = last_polls.last_poll_at
                then latest_active_only.active_at
            else last_polls.last_inactive_at
        end as broken_at
    from last_polls
    left join latest_active_only on last_polls.store_id = latest_active_only.store_id
),

{# A run with no break starts at the store's first poll (from last_polls); only the stores
    with a break read their polls again. A break is always before the last poll, so each of
    them finds a row here. #}
run_starts_after_breaks as (
    select
        polls.store_id,
        min(polls.polled_at) as run_started_at
    from polls
    inner join run_breaks on polls.store_id = run_breaks.store_id
    where polls.polled_at > run_breaks.broken_at
    group by polls.store_id
),

final as (
    select
        run_breaks.store_id,
        run_breaks.last_poll_at,
        run_breaks.last_is_active,
        coalesce(run_starts_after_breaks.run_started_at, run_breaks.first_poll_at)
            as run_started_at
    from run_breaks
    left join run_starts_after_breaks
        on run_breaks.store_id = run_starts_after_breaks.store_id
)

select * from final
