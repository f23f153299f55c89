{#- One input's columns (the `input_columns` var of dbt_project.yml): one list per column, the
    documented name first, then the other names a file may use. Stops compilation on an unknown
    input, naming the known ones. -#}
{% macro input_columns(name) -%}
    {%- set inputs = var('input_columns') -%}
    {%- if name not in inputs -%}
        {{ exceptions.raise_compiler_error(
            "input_columns: unknown input '" ~ name ~ "'; expected one of "
            ~ inputs.keys() | sort | join(", ")) }}
    {%- endif -%}
    {{ return(inputs[name]) }}
{%- endmacro %}
