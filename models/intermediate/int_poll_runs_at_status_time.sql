{# The trailing run of a store's status at T begins at its latest change at or before T: a
    change depends only on a poll and the instant before it (int_status_changes), so the
    changes up to T are those of the polls up to T. Only the last poll itself needs the polls;
    the run needs only the few changes. #}
with

stg_store_status as (
    select
        store_id,
        polled_at
    from {{ ref('stg_store_status') }}
    where rejection_reason is null
),

int_status_changes as (
    select
        store_id,
        polled_at,
        is_active
    from {{ ref('int_status_changes') }}
),

int_status_clock as (
    select status_at from {{ ref('int_status_clock') }}
),

last_polls as (
    select
        stg_store_status.store_id,
        max(stg_store_status.polled_at) as last_poll_at
    from stg_store_status
    inner join int_status_clock on stg_store_status.polled_at <= int_status_clock.status_at
    group by stg_store_status.store_id
),

{# A store's first instant is a change, so every store with a poll up to T has one. #}
last_changes as (
    select
        int_status_changes.store_id,
        max(int_status_changes.polled_at) as run_started_at,
        max(case when int_status_changes.is_active then int_status_changes.polled_at end)
            as last_active_change_at
    from int_status_changes
    inner join int_status_clock on int_status_changes.polled_at <= int_status_clock.status_at
    group by int_status_changes.store_id
),

final as (
    select
        last_polls.store_id,
        last_polls.last_poll_at,
        coalesce(last_changes.last_active_change_at = last_changes.run_started_at, false)
            as last_is_active,
        last_changes.run_started_at
    from last_polls
    inner join last_changes on last_polls.store_id = last_changes.store_id
)

select * from final
