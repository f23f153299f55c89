{#- A run setting: the dbt var `name` when it is set (non-empty), else the environment variable
    STOREMON_<NAME>, else `default`. `storemon export` passes its options through the
    environment because dbt re-parses the whole project (about 2 s) whenever --vars change,
    while a changed environment variable re-parses only the models that read it. -#}
{% macro setting(name, default='') -%}
    {{ return(var(name, '') or env_var('STOREMON_' ~ name | upper, '') or default) }}
{%- endmacro %}
