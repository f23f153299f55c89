{# Fails on each pair of intervals [from_column, to_column) of one partition that overlap, and
    on each interval that is empty or reversed. #}
{% test no_overlapping_intervals(model, partition_by, from_column, to_column) %}

with

intervals as (
    select
        {{ partition_by }} as partition_key,
        {{ from_column }} as from_value,
        {{ to_column }} as to_value,
        lead({{ from_column }}) over (
            partition by {{ partition_by }} order by {{ from_column }}, {{ to_column }}
        ) as next_from_value
    from {{ model }}
),

final as (
    select * from intervals
    where not (to_value > from_value) or next_from_value < to_value
)

select * from final

{% endtest %}
