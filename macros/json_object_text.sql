{#- A JSON object as text, keys in the given order, NULL values kept as `null`. `fields` maps
    each key to a SQL expression of type VARCHAR. -#}
{% macro json_object_text(fields) -%}
    {{ return(adapter.dispatch('json_object_text', 'storemon')(fields)) }}
{%- endmacro %}

{% macro default__json_object_text(fields) -%}
    to_json({
        {%- for key, expression in fields.items() %}
        '{{ key }}': {{ expression }}{{ "," if not loop.last }}
        {%- endfor %}
    })::varchar
{%- endmacro %}

{% macro spark__json_object_text(fields) -%}
    to_json(
        named_struct(
            {%- for key, expression in fields.items() %}
            '{{ key }}', {{ expression }}{{ "," if not loop.last }}
            {%- endfor %}
        ),
        map('ignoreNullFields', 'false')
    )
{%- endmacro %}

{#- The text value of `key` in a JSON object made by json_object_text; NULL for `null`. -#}
{% macro json_text_field(json_expression, key) -%}
    {{ return(adapter.dispatch('json_text_field', 'storemon')(json_expression, key)) }}
{%- endmacro %}

{% macro default__json_text_field(json_expression, key) -%}
    json_extract_string({{ json_expression }}, '$.{{ key }}')
{%- endmacro %}

{% macro spark__json_text_field(json_expression, key) -%}
    get_json_object({{ json_expression }}, '$.{{ key }}')
{%- endmacro %}
