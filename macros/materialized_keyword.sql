{#- The keyword that makes a CTE a fence for the join optimizer, written between the CTE's
    `as` and its query: DuckDB computes a `materialized` CTE once, as written, before the query
    that reads it. Spark has no such keyword and keeps joins in the order written (its
    cost-based join reordering is off by default). -#}
{% macro materialized_keyword() -%}
    {{ return(adapter.dispatch('materialized_keyword', 'storemon')()) }}
{%- endmacro %}

{% macro default__materialized_keyword() -%}
    materialized
{%- endmacro %}

{% macro spark__materialized_keyword() -%}
{%- endmacro %}
