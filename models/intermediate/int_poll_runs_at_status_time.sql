{# Each store's last poll at or before the status time T and the trailing run of polls that
    share its status, one row per store with such a poll. Polls at one instant count as one;
    where they disagree, `inactive` wins (docs/numbers.md). #}
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
        bool_and(stg_store_status.is_active) as is_active
    from stg_store_status
    inner join int_status_clock on stg_store_status.polled_at <= int_status_clock.status_at
    group by stg_store_status.store_id, stg_store_status.polled_at
),

latest_polled_at as (
    select
        store_id,
        max(polled_at) as last_poll_at
    from polls
    group by store_id
),

last_polls as (
    select
        polls.store_id,
        polls.polled_at as last_poll_at,
        polls.is_active as last_is_active
    from polls
    inner join latest_polled_at
        on
            polls.store_id = latest_polled_at.store_id
            and polls.polled_at = latest_polled_at.last_poll_at
),

{# The latest poll with the other status: the run of the last status starts after it. #}
run_breaks as (
    select
        polls.store_id,
        max(polls.polled_at) as broken_at
    from polls
    inner join last_polls
        on
            polls.store_id = last_polls.store_id
            and polls.is_active != last_polls.last_is_active
    group by polls.store_id
),

run_starts as (
    select
        polls.store_id,
        min(polls.polled_at) as run_started_at
    from polls
    left join run_breaks on polls.store_id = run_breaks.store_id
    where run_breaks.broken_at is null or polls.polled_at > run_breaks.broken_at
    group by polls.store_id
),

final as (
    select
        last_polls.store_id,
        last_polls.last_poll_at,
        last_polls.last_is_active,
        run_starts.run_started_at
    from last_polls
    inner join run_starts on last_polls.store_id = run_starts.store_id
)

select * from final
