{#- A local time of day (text, docs/inputs.md) as an INTERVAL from midnight, 0 to 24 h, or NULL.
    `24:00` and `24:00:00` are the end of the day. -#}
{% macro parse_local_time(text_expression) -%}
    {{ return(adapter.dispatch('parse_local_time', 'storemon')(text_expression)) }}
{%- endmacro %}

{% macro default__parse_local_time(text_expression) -%}
    {#- The real data's form (`HH:MM:SS`) takes three casts; other forms pay for the regex. -#}
    list_transform(
        [case when {{ text_expression }} glob '[0-9][0-9]:[0-5][0-9]:[0-5][0-9]' then
            (substr({{ text_expression }}, 1, 2)::bigint * 3600
                + substr({{ text_expression }}, 4, 2)::bigint * 60
                + substr({{ text_expression }}, 7, 2)::bigint) * 1000000
        else list_transform(
            [regexp_extract(
                {{ trim_blanks(text_expression) }},
                '^(\d{1,2}):([0-5]\d)(?::([0-5]\d)(?:\.(\d{1,6}))?)?$',
                ['hours', 'minutes', 'seconds', 'fraction']
            )],
            lambda parts: case when parts.hours != '' then
                parts.hours::bigint * 3600000000
                + parts.minutes::bigint * 60000000
                + coalesce(nullif(parts.seconds, ''), '0')::bigint * 1000000
                + rpad(parts.fraction, 6, '0')::bigint
            end
        )[1] end],
        lambda microseconds: case
            when microseconds <= 86400000000 then to_microseconds(microseconds)
        end
    )[1]
{%- endmacro %}

{% macro spark__parse_local_time(text_expression) -%}
    {#- Spark has no struct-returning regexp: one regexp_extract per field. In Spark string
        literals a backslash escapes, so the pattern spells digits as [0-9]. -#}
    {%- set pattern = "'^([0-9]{1,2}):([0-5][0-9])(?::([0-5][0-9])(?:[.]([0-9]{1,6}))?)?$'" -%}
    {%- set parts = {} -%}
    {%- for name in ['hours', 'minutes', 'seconds', 'fraction'] -%}
        {%- do parts.update({name: 'regexp_extract(' ~ trim_blanks(text_expression) ~ ', '
            ~ pattern ~ ', ' ~ loop.index ~ ')'}) -%}
    {%- endfor -%}
    {#- try_cast: with spark.sql.ansi.enabled a cast of '' is an error, whatever guards it. -#}
    {%- set microseconds -%}
        case when {{ parts.hours }} != '' then
            try_cast({{ parts.hours }} as bigint) * 3600000000
            + try_cast({{ parts.minutes }} as bigint) * 60000000
            + try_cast(coalesce(nullif({{ parts.seconds }}, ''), '0') as bigint) * 1000000
            + try_cast(rpad({{ parts.fraction }}, 6, '0') as bigint)
        end
    {%- endset -%}
    case
        when {{ microseconds }} <= 86400000000
            then make_dt_interval(0, 0, 0, cast({{ microseconds }} as decimal(18, 6)) / 1000000)
    end
{%- endmacro %}
