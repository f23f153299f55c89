{#- A timestamp (text, docs/inputs.md) as a UTC TIMESTAMP, or NULL when it is not one. -#}
{% macro parse_timestamp_utc(text_expression) -%}
    {{ return(adapter.dispatch('parse_timestamp_utc', 'storemon')(text_expression)) }}
{%- endmacro %}

{% macro default__parse_timestamp_utc(text_expression) -%}
    {#- The real data's form takes a cheap strptime; only other forms pay for the regex.
        CASE (unlike coalesce) evaluates just the branch taken. A lambda over a one-element
        list names the regex match once instead of running the regex per field. -#}
    case
        {#- strptime lets a blank in its format match a run of blanks and a field then be one
            digit short ('2024-11-04  4:05', '…00.5  UTC', a leading blank): the pattern
            wants a digit on either side of each blank, so that this path accepts exactly what
            the general one does (one space before UTC). One GLOB costs less than LIKE and four
            character tests. #}
        when strlen({{ text_expression }}) <= 30
            and {{ text_expression }} glob '[0-9]???-??-?[0-9] [0-9]?:??:??.*[0-9] UTC'
            then try_strptime({{ text_expression }}, '%Y-%m-%d %H:%M:%S.%f UTC')
        else list_transform(
            [regexp_extract(
                upper({{ trim_blanks(text_expression) }}),
                '^(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))? ?(?:UTC|Z|([+-])([01]\d|2[0-3])(?::?([0-5]\d))?)?$',
                ['day', 'time', 'fraction', 'sign', 'offset_hours', 'offset_minutes']
            )],
            lambda parts: try_strptime(parts.day || ' ' || parts.time, '%Y-%m-%d %H:%M:%S')
                {#- Fractions beyond microseconds are truncated. #}
                + to_microseconds(coalesce(try_cast(rpad(left(parts.fraction, 6), 6, '0') as bigint), 0))
                - to_minutes(
                    case parts.sign when '-' then -1 else 1 end
                    * (coalesce(try_cast(parts.offset_hours as bigint), 0) * 60
                        + coalesce(try_cast(parts.offset_minutes as bigint), 0))
                )
        )[1]
    end
{%- endmacro %}

{% macro spark__parse_timestamp_utc(text_expression) -%}
    {#- The same pattern as DuckDB's general branch (which accepts every form of its cheap
        one), one regexp_extract per field; [0-9] because a backslash escapes in Spark
        string literals. -#}
    {%- set pattern = "'^([0-9]{4}-[0-9]{2}-[0-9]{2})[T ]([0-9]{2}:[0-9]{2}:[0-9]{2})(?:[.]([0-9]{1,9}))? ?(?:UTC|Z|([+-])([01][0-9]|2[0-3])(?::?([0-5][0-9]))?)?$'" -%}
    {%- set parts = {} -%}
    {%- for name in ['day', 'time', 'fraction', 'sign', 'offset_hours', 'offset_minutes'] -%}
        {%- do parts.update({name: 'regexp_extract(upper(' ~ trim_blanks(text_expression) ~ '), '
            ~ pattern ~ ', ' ~ loop.index ~ ')'}) -%}
    {%- endfor -%}
    {#- try_ forms: with spark.sql.ansi.enabled a failed cast or parse (an empty group of a
        text that does not match, a 30 February) is an error, not NULL. #}
    timestamp_micros(
        unix_micros(try_to_timestamp({{ parts.day }} || ' ' || {{ parts.time }}, 'yyyy-MM-dd HH:mm:ss'))
        {#- Fractions beyond microseconds are truncated. #}
        + coalesce(try_cast(rpad(left({{ parts.fraction }}, 6), 6, '0') as bigint), 0)
        - case {{ parts.sign }} when '-' then -1 else 1 end
        * (coalesce(try_cast({{ parts.offset_hours }} as bigint), 0) * 60
            + coalesce(try_cast({{ parts.offset_minutes }} as bigint), 0))
        * 60000000
    )
{%- endmacro %}
