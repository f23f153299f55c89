with

int_stores as (
    select store_id from {{ ref('int_stores') }}
),

int_status_clock as (
    select * from {{ ref('int_status_clock') }}
),

int_store_hours_at_status_time as (
    select * from {{ ref('int_store_hours_at_status_time') }}
),

int_poll_runs_at_status_time as (
    select * from {{ ref('int_poll_runs_at_status_time') }}
),

stores as (
    select
        int_stores.store_id,
        int_store_hours_at_status_time.is_open,
        int_store_hours_at_status_time.closes_at,
        int_store_hours_at_status_time.opens_at,
        int_poll_runs_at_status_time.last_poll_at,
        int_poll_runs_at_status_time.last_is_active,
        int_poll_runs_at_status_time.run_started_at,
        {{ add_minutes(
            'int_poll_runs_at_status_time.last_poll_at', 'int_status_clock.silent_after_minutes'
        ) }} as silent_from_at,
        int_status_clock.status_at
    from int_stores
    cross join int_status_clock
    inner join int_store_hours_at_status_time
        on int_stores.store_id = int_store_hours_at_status_time.store_id
    left join int_poll_runs_at_status_time
        on int_stores.store_id = int_poll_runs_at_status_time.store_id
),

{# Silent once more than the threshold has passed since the last poll: exactly the threshold
    after it is not silent yet. #}
states as (
    select
        *,
        case
            when status_at is null then null
            when not is_open then 'closed'
            when last_poll_at is null or silent_from_at < status_at then 'silent'
            when not last_is_active then 'down'
            else 'up'
        end as state
    from stores
),

final as (
    select
        store_id,
        state,
        is_open,
        last_poll_at,
        case when last_is_active then 'active' when not last_is_active then 'inactive' end
            as last_status,
        case
            when state in ('up', 'down') then run_started_at
            when state = 'silent' then silent_from_at
        end as state_since,
        closes_at,
        opens_at
    from states
)

select * from final
