{#- The one rule for the blanks around a value (docs/inputs.md, Values): the Unicode space
    separators (general category Zs: the space, the no-break space U+00A0, the ideographic
    space U+3000 and the other spaces of U+1680, U+2000-U+200A, U+202F, U+205F) at either end
    are removed; tabs, line breaks and every other character are kept. DuckDB's trim() removes
    exactly these; Spark's trim() only the space, so Spark says it with a regex. -#}
{% macro trim_blanks(text_expression) -%}
    {{ return(adapter.dispatch('trim_blanks', 'storemon')(text_expression)) }}
{%- endmacro %}

{% macro default__trim_blanks(text_expression) -%}
    trim({{ text_expression }})
{%- endmacro %}

{% macro spark__trim_blanks(text_expression) -%}
    {#- A backslash escapes in Spark string literals: '\\p' reaches the regex as \p. -#}
    regexp_replace({{ text_expression }}, '^\\p{Zs}+|\\p{Zs}+$', '')
{%- endmacro %}

{#- Text with the blanks at its ends trimmed (trim_blanks), NULL when nothing is left. -#}
{% macro trimmed_text(text_expression) -%}
    {{ return(adapter.dispatch('trimmed_text', 'storemon')(text_expression)) }}
{%- endmacro %}

{% macro default__trimmed_text(text_expression) -%}
    {#- trim() copies every string, which costs more than looking at the ends first. Every
        blank but the space is beyond ASCII, so any text with such a character (more bytes
        than characters) takes the slow path too. -#}
    case
        when {{ text_expression }} like ' %'
            or {{ text_expression }} like '% '
            or strlen({{ text_expression }}) != length({{ text_expression }})
            then nullif({{ trim_blanks(text_expression) }}, '')
        else nullif({{ text_expression }}, '')
    end
{%- endmacro %}

{% macro spark__trimmed_text(text_expression) -%}
    nullif({{ trim_blanks(text_expression) }}, '')
{%- endmacro %}
