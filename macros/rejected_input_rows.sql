{#- The rejected rows of one input's staging model as (source_file, source_row_number,
    raw_values, rejection_reason). A staging model that reads its CSV file unnumbered (numbering
    serialises the read) leaves source_row_number NULL; only when such a model has rejected
    rows is the file read again, numbered, and its rows matched to the rejected ones by their
    raw values: rows with equal raw values are equal in every other column too. -#}
{% macro rejected_input_rows(staging_model, path_setting, seed_name, columns) -%}
    {%- set staged = ref(staging_model) -%}
    {%- set unnumbered = execute and run_query(
        "select count(*) from " ~ staged
        ~ " where rejection_reason is not null and source_row_number is null"
    ).columns[0].values()[0] > 0 -%}
    {%- if not unnumbered -%}
        select
            source_file,
            source_row_number,
            raw_values,
            rejection_reason
        from {{ staged }}
        where rejection_reason is not null
    {%- else -%}
        select
            rejected.source_file,
            numbered.source_row_number,
            rejected.raw_values,
            rejected.rejection_reason
        from ({{ select_input(path_setting, seed_name, columns) }}) as numbered
        inner join (
            select distinct
                {%- for names in columns %}
                {{ json_text_field('raw_values', names[0]) }} as raw_{{ names[0] }},
                {%- endfor %}
                source_file,
                raw_values,
                rejection_reason
            from {{ staged }}
            where rejection_reason is not null
        ) as rejected
            on
            {%- for names in columns %}
            {{ "and " if not loop.first }}numbered.{{ names[0] }} is not distinct from rejected.raw_{{ names[0] }}
            {%- endfor %}
    {%- endif -%}
{%- endmacro %}
