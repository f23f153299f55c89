{#- A local time of day (text, docs/inputs.md) as an INTERVAL from midnight, 0 to 24 h, or NULL.
    `24:00` and `24:00:00` are the end of the day. -#}
{% macro parse_local_time(text_expression) -%}
    {{ return(adapter.dispatch('parse_local_time', 'storemon')(text_expression)) }}
{%- endmacro %}

{% macro default__parse_local_time(text_expression) -%}
    {#- The real data's form (`HH:MM:SS`, up to 24:00:00) takes a cast to TIME; other forms pay
        for the regex. CASE evaluates just the branch taken. -#}
    case
        when {{ text_expression }} glob '[0-9][0-9]:[0-5][0-9]:[0-5][0-9]' then
            case
                when {{ text_expression }} <= '24:00:00'
                    then to_microseconds(epoch_us(cast({{ text_expression }} as time)))
            end
        else list_transform(
            [regexp_extract(
                {{ trim_blanks(text_expression) }},
                '^(\d{1,2}):([0-5]\d)(?::([0-5]\d)(?:\.(\d{1,6}))?)?$',
                ['hours', 'minutes', 'seconds', 'fraction']
            )],
            lambda parts: list_transform(
                [case when parts.hours != '' then
                    parts.hours::bigint * 3600000000
                    + parts.minutes::bigint * 60000000
                    + coalesce(nullif(parts.seconds, ''), '0')::bigint * 1000000
                    + rpad(parts.fraction, 6, '0')::bigint
                end],
                lambda microseconds: case
                    when microseconds <= 86400000000 then to_microseconds(microseconds)
                end
            )[1]
        )[1]
    end
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
