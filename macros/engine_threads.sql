{#- The statement that sets how many threads the engine may use, from the environment variable
    STOREMON_ENGINE_THREADS; empty (the engine's own default) when it is not set. Run as an
    on-run-start hook, so tests can check that no result depends on the thread count. -#}
{% macro engine_threads() -%}
    {{ return(adapter.dispatch('engine_threads', 'storemon')()) }}
{%- endmacro %}

{% macro default__engine_threads() -%}
{%- endmacro %}

{% macro duckdb__engine_threads() -%}
    {%- set threads = env_var('STOREMON_ENGINE_THREADS', '') | trim -%}
    {%- if threads -%}
        set threads = {{ threads | int }}
    {%- endif -%}
{%- endmacro %}
