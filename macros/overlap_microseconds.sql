{#- Length in microseconds of the intersection of half-open intervals [start, end), 0 when they
    do not meet. `starts` and `ends` are lists of TIMESTAMP expressions, one per interval. -#}
{% macro overlap_microseconds(starts, ends) -%}
    {%- if starts | length < 1 or starts | length != ends | length -%}
        {{ exceptions.raise_compiler_error(
            "overlap_microseconds needs as many starts as ends (at least one), got "
            ~ starts | length ~ " and " ~ ends | length) }}
    {%- endif -%}
    {{ return(adapter.dispatch('overlap_microseconds', 'storemon')(starts, ends)) }}
{%- endmacro %}

{% macro default__overlap_microseconds(starts, ends) -%}
    greatest(
        0,
        epoch_us(least({{ ends | join(', ') }})) - epoch_us(greatest({{ starts | join(', ') }}))
    )
{%- endmacro %}

{% macro spark__overlap_microseconds(starts, ends) -%}
    greatest(
        0,
        unix_micros(least({{ ends | join(', ') }}))
        - unix_micros(greatest({{ starts | join(', ') }}))
    )
{%- endmacro %}
