{#- Text with the blanks at its ends trimmed (as the engine's trim() does), NULL when nothing
    is left. -#}
{% macro trimmed_text(text_expression) -%}
    {{ return(adapter.dispatch('trimmed_text', 'storemon')(text_expression)) }}
{%- endmacro %}

{% macro default__trimmed_text(text_expression) -%}
    {#- trim() copies every string, which costs more than looking at the ends
        first. DuckDB's trim also takes Unicode spaces, so any text with a character
        beyond ASCII (more bytes than characters) takes the slow path too. -#}
    case
        when {{ text_expression }} like ' %'
            or {{ text_expression }} like '% '
            or strlen({{ text_expression }}) != length({{ text_expression }})
            then nullif(trim({{ text_expression }}), '')
        else nullif({{ text_expression }}, '')
    end
{%- endmacro %}

{% macro spark__trimmed_text(text_expression) -%}
    nullif(trim({{ text_expression }}), '')
{%- endmacro %}
