{#- The polls where a store's status changes, from every valid poll whatever the report time (a
    change depends only on a poll and the instant before it, so the report's "polls at or before
    its time" is a filter on the changes: int_status_intervals). That lets a database that has
    the model already recompute only the changes from the `changed_from` setting on (the
    earliest instant of the polls added since it was built), seeded with each store's last
    instant before it (incremental on DuckDB, dbt_project.yml) when the setting is given, and
    rebuilt whole when it is empty, so that a build from changed inputs is always right. #}
{%- set changed_from = setting('changed_from') | string | trim %}
{%- set changed_from_sql = setting_sql('changed_from', trimmed=true) %}
{%- set changed_from_at -%}
    coalesce(
        {{ parse_timestamp_utc(changed_from_sql) }},
        {{ raise_error(
            "'changed_from ''' || " ~ changed_from_sql ~ " || ''' is not a timestamp; "
            ~ "use e.g. 2024-11-04T06:00:00Z or 2024-11-04 06:00:00'"
        ) }}
    )
{%- endset %}
{{ config(
    incremental_strategy='append',
    full_refresh=(true if not changed_from else none),
    pre_hook=(
        "{% if is_incremental() %}delete from {{ this }} where polled_at >= "
        ~ changed_from_at ~ "{% endif %}"
    ),
) }}
with

{#- Read twice when incremental (on DuckDB only): DuckDB would then compute it once, every poll
    kept, rather than let each reader skip to its own polls. #}
stg_store_status as {% if is_incremental() %}not materialized {% endif %}(
    select
        store_id,
        polled_at,
        is_active
    from {{ ref('stg_store_status') }}
    where rejection_reason is null
),

int_stores as (
    select
        store_id,
        store_key
    from {{ ref('int_stores') }}
),

{% if is_incremental() %}
changed as (
    select {{ changed_from_at }} as changed_from_at
),

{# Each store's last instant before the change, with its status: inactive when any of its polls
    is. The largest of 2 × the instant's microseconds + (1 when inactive) is the last instant's
    inactive poll if it has one; its last bit is that status (an integer's maximum is three
    times faster than an arg_max over every poll kept). The polls after it are then numbered as
    a full build numbers them. #}
instants_before_change as (
    select
        stg_store_status.store_id,
        max(stg_store_status.polled_at) as polled_at,
        max(
            cast(epoch_us(stg_store_status.polled_at) as hugeint) * 2
            + cast(not stg_store_status.is_active as integer)
        ) % 2 = 0 as is_active
    from stg_store_status
    inner join changed on stg_store_status.polled_at < changed.changed_from_at
    group by stg_store_status.store_id
),

polls_from_change as (
    select stg_store_status.*
    from stg_store_status
    inner join changed on stg_store_status.polled_at >= changed.changed_from_at
),

selected_polls as (
    select * from instants_before_change
    union all
    select * from polls_from_change
),
{% else %}
selected_polls as (
    select * from stg_store_status
),
{% endif %}

polls as (
    select
        int_stores.store_key,
        selected_polls.polled_at,
        selected_polls.is_active
    from selected_polls
    inner join int_stores on selected_polls.store_id = int_stores.store_id
),

deduplicated as (
    {{ deduplicated_polls('polls') }}
),

final as (
    select
        int_stores.store_id,
        deduplicated.polled_at,
        deduplicated.is_active,
        deduplicated.previous_polled_at
    from deduplicated
    inner join int_stores on deduplicated.store_key = int_stores.store_key
    {% if is_incremental() %}
    cross join changed
    {% endif %}
    where
        deduplicated.previous_is_active is distinct from deduplicated.is_active
        {% if is_incremental() %}
        and deduplicated.polled_at >= changed.changed_from_at
        {% endif %}
)

select * from final
