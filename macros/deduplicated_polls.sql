{#- The polls of `polls` (a relation or CTE name with store_key, polled_at, is_active), one per
    store and instant, each with the store's instant before it and that instant's status: where
    polls at one instant disagree, `inactive` wins (docs/numbers.md, Status at every instant).
    A query, to be used as a subquery: int_polls_deduplicated over the polls that count, and
    int_status_changes over the polls from an instant on.

    One sort does both the deduplication and the neighbours (a GROUP BY of millions of
    (store, instant) pairs before the sort took as long as the sort). In (polled_at, is_active)
    order, false first, an instant's first row carries its status (inactive wins); rows that
    tie in this order are identical, so the order is total where it matters. -#}
{% macro deduplicated_polls(polls) -%}
    with

    with_neighbour_rows as (
        select
            store_key,
            polled_at,
            is_active,
            lag(polled_at) over by_time as previous_row_polled_at,
            lag(polled_at, 2) over by_time as second_previous_row_polled_at,
            lag(is_active) over by_time as previous_row_is_active,
            lead(polled_at) over by_time as next_row_polled_at
        from {{ polls }}
        window by_time as (partition by store_key order by polled_at, is_active)
    ),

    instants as (
        select * from with_neighbour_rows
        where previous_row_polled_at is distinct from polled_at
    ),

    {# The row before an instant is the last row of the instant before, which carries that
        instant's status only when it was polled once; for the few polled more than once the
        status is looked up. #}
    repeated_instants as (
        select
            store_key,
            polled_at,
            is_active
        from instants
        where next_row_polled_at = polled_at
    )

    select
        instants.store_key,
        instants.polled_at,
        instants.is_active,
        instants.previous_row_polled_at as previous_polled_at,
        case
            when instants.second_previous_row_polled_at = instants.previous_row_polled_at
                then repeated_instants.is_active
            else instants.previous_row_is_active
        end as previous_is_active
    from instants
    left join repeated_instants
        on
            instants.store_key = repeated_instants.store_key
            and instants.previous_row_polled_at = repeated_instants.polled_at
{%- endmacro %}
