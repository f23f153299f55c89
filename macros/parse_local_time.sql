{#- A SPEC §1 local time of day (text) as an INTERVAL from midnight, 0 to 24 h, or NULL.
    `24:00` and `24:00:00` are the end of the day. -#}
{% macro parse_local_time(text_expression) -%}
    {{ return(adapter.dispatch('parse_local_time', 'storemon')(text_expression)) }}
{%- endmacro %}

{% macro default__parse_local_time(text_expression) -%}
    list_transform(
        [list_transform(
            [regexp_extract(
                trim({{ text_expression }}),
                '^(\d{1,2}):([0-5]\d)(?::([0-5]\d)(?:\.(\d{1,6}))?)?$',
                ['hours', 'minutes', 'seconds', 'fraction']
            )],
            lambda parts: case when parts.hours != '' then
                parts.hours::bigint * 3600000000
                + parts.minutes::bigint * 60000000
                + coalesce(nullif(parts.seconds, ''), '0')::bigint * 1000000
                + rpad(parts.fraction, 6, '0')::bigint
            end
        )[1]],
        lambda microseconds: case
            when microseconds <= 86400000000 then to_microseconds(microseconds)
        end
    )[1]
{%- endmacro %}
