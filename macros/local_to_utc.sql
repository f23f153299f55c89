{#- A local wall time (TIMESTAMP) in an IANA zone as a UTC TIMESTAMP. A wall time that does not
    exist (spring-forward gap) or occurs twice (fall-back) resolves to the later candidate instant
    (docs/numbers.md, Business hours); DuckDB's ICU `timezone()` already behaves exactly so. -#}
{% macro local_to_utc(local_timestamp, timezone_name) -%}
    {{ return(adapter.dispatch('local_to_utc', 'storemon')(local_timestamp, timezone_name)) }}
{%- endmacro %}

{% macro default__local_to_utc(local_timestamp, timezone_name) -%}
    timezone('UTC', timezone({{ timezone_name }}, {{ local_timestamp }}))
{%- endmacro %}

{#- Spark's `to_utc_timestamp` moves a gap time forward (as docs/numbers.md says) but reads a
    fall-back time as its FIRST occurrence. So: read the wall time with the zone's offset a day
    before and a day after it (DST changes are months apart), keep the readings that show that wall
    time again, and take the later one; in a gap neither does, and the later reading is the instant
    moved forward by the gap. Two names the JVM lacks are read as the zones they alias. -#}
{% macro spark__local_to_utc(local_timestamp, timezone_name) -%}
    {%- set zone -%}
        case {{ timezone_name }}
            when 'ROC' then 'Asia/Taipei' when 'Factory' then 'Etc/UTC'
            else {{ timezone_name }}
        end
    {%- endset -%}
    {%- set wall = 'unix_micros(' ~ local_timestamp ~ ')' -%}
    {%- set readings = [] -%}
    {%- for probe_micros in ['-86400000000', '86400000000'] -%}
        {%- set probe = wall ~ ' + ' ~ probe_micros -%}
        {%- do readings.append(
            wall ~ ' - (unix_micros(from_utc_timestamp(timestamp_micros(' ~ probe ~ '), ' ~ zone
            ~ ')) - (' ~ probe ~ '))') -%}
    {%- endfor -%}
    {%- set before, after = readings -%}
    {%- set shows_wall = 'unix_micros(from_utc_timestamp(timestamp_micros({0}), ' ~ zone ~ ')) = ' ~ wall -%}
    timestamp_micros(
        case
            when ({{ after }}) >= ({{ before }})
                then case
                    when {{ shows_wall.format(after) }} or not {{ shows_wall.format(before) }}
                        then {{ after }}
                    else {{ before }}
                end
            else case
                when {{ shows_wall.format(before) }} or not {{ shows_wall.format(after) }}
                    then {{ before }}
                else {{ after }}
            end
        end
    )
{%- endmacro %}
