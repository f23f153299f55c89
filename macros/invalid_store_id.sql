{#- Whether a trimmed, non-empty store_id is invalid (docs/inputs.md, Store ids): more than
    255 characters, a control character (U+0000-U+001F, U+007F-U+009F: general category Cc),
    or a first character that a spreadsheet reads as the start of a formula (`=`, `+`, `-`,
    `@`). Characters are code points, as in length(); nothing is normalised. -#}
{% macro invalid_store_id(store_id_expression) -%}
    (
        length({{ store_id_expression }}) > 255
        {#- The first character's code point: =, +, - or @ (cheaper than left()). #}
        or ascii({{ store_id_expression }}) in (61, 43, 45, 64)
        or {{ has_control_character(store_id_expression) }}
    )
{%- endmacro %}

{% macro has_control_character(text_expression) -%}
    {{ return(adapter.dispatch('has_control_character', 'storemon')(text_expression)) }}
{%- endmacro %}

{% macro default__has_control_character(text_expression) -%}
    {#- The regex costs more than the rest of a store id's checks together. JSON escapes every
        character below U+0020 (and `"` and `\`): text that its quoting only lengthens by
        the two quotes, that is ASCII (so without U+0080-U+009F) and that has no U+007F holds
        no control character, which settles nearly every real store id without the regex. -#}
    case
        when strlen(json_quote({{ text_expression }})) = strlen({{ text_expression }}) + 2
            and strlen({{ text_expression }}) = length({{ text_expression }})
            and not contains({{ text_expression }}, chr(127))
            then false
        else regexp_matches({{ text_expression }}, '\p{Cc}')
    end
{%- endmacro %}

{% macro spark__has_control_character(text_expression) -%}
    {#- A backslash escapes in Spark string literals: '\\p' reaches the regex as \p. -#}
    {{ text_expression }} rlike '\\p{Cc}'
{%- endmacro %}
