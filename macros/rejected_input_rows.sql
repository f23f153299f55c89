{#- The rejected rows of one input's staging model as (source_file, source_row_number,
    raw_values, rejection_reason). A staging model that reads its CSV file unnumbered (numbering
    serialises the read) leaves source_row_number NULL; only when such a model has rejected
    rows is the file read again, numbered, and its rows matched to the rejected ones by their
    raw values: rows with equal raw values are equal in every other column too. -#}
{% macro rejected_input_rows(staging_model, path_setting, seed_name, columns) -%}
    {%- set staged = ref(staging_model) -%}
    {%- set unnumbered = staged_unnumbered(staged, path_setting) -%}
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
        from (
            {#- The file is read only when the model has rejected rows: a cross join with an
                empty side skips the other side, where the join below would read the whole file
                into its hash table (DuckDB builds on the side it estimates smaller). #}
            select numbered_rows.*
            from ({{ select_input(path_setting, seed_name, columns) }}) as numbered_rows
            cross join (
                select 1 as has_rejected_rows
                from {{ staged }}
                where rejection_reason is not null
                limit 1
            ) as gate
        ) as numbered
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

{#- Whether the staging model `staged` has rejected rows without a row number. -#}
{% macro staged_unnumbered(staged, path_setting) -%}
    {{ return(adapter.dispatch('staged_unnumbered', 'storemon')(staged, path_setting)) }}
{%- endmacro %}

{#- Asked of the data. -#}
{% macro default__staged_unnumbered(staged, path_setting) -%}
    {{ return(execute and run_query(
        "select count(*) from " ~ staged
        ~ " where rejection_reason is not null and source_row_number is null"
    ).columns[0].values()[0] > 0) }}
{%- endmacro %}

{#- DuckDB: whenever the input is a CSV file (read unnumbered), so that the SQL does not depend
    on the data and the export can run it again without dbt (see `setting_sql`). Without
    rejected rows the second read is skipped (see the gate above). -#}
{% macro duckdb__staged_unnumbered(staged, path_setting) -%}
    {%- set path = setting(path_setting) | trim -%}
    {{ return(path != '' and not path.lower().endswith('.parquet')) }}
{%- endmacro %}
