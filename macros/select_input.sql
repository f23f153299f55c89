{#- The rows of one input as text, whatever their source: the bundled seed when the path setting
    (see `setting`) is empty, else the user's CSV or Parquet file. Columns are found by (trimmed) header name, so
    their order does not matter; each output column takes the first header name of its list
    that the file has. Adds `source_file` and `source_row_number` (1 = first data row); with
    `numbered` false a CSV file's rows are not numbered (NULL), which keeps DuckDB's read
    parallel: numbering serialises it, about half of the polls' staging time. A Parquet path
    may be a pattern (`archive/store_status/*/*.parquet`, see `is_file_pattern`): its files are
    read as one input, each row's `source_file` the file it is in. -#}
{% macro select_input(path_setting, seed_name, columns, numbered=true) -%}
    {{ return(adapter.dispatch('select_input', 'storemon')(path_setting, seed_name, columns, numbered)) }}
{%- endmacro %}

{% macro default__select_input(path_setting, seed_name, columns, numbered=true) -%}
    {%- set path = setting(path_setting) | trim -%}
    {%- if not path -%}
        select
            '{{ seed_name }}.csv' as source_file,
            row_number() over () as source_row_number,
            {%- for names in columns %}
            {{ names[0] }}::varchar as {{ names[0] }}{{ "," if not loop.last }}
            {%- endfor %}
        from {{ ref(seed_name) }}
    {%- elif not execute -%}
        select 1 {#- parse time: the file is only read when the model runs -#}
    {%- else -%}
        {%- set quoted_path = "'" ~ path | replace("'", "''") ~ "'" -%}
        {%- set is_parquet = path.lower().endswith('.parquet') -%}
        {%- set header = input_header(path, quoted_path, is_parquet) -%}
        {%- set path_sql = setting_sql(path_setting, trimmed=true) %}
        {%- set is_pattern = is_parquet and is_file_pattern(path) %}
        select
            {{ "filename" if is_pattern else path_sql }} as source_file,
            {%- if is_parquet %}
            file_row_number + 1 as source_row_number,
            {%- elif numbered %}
            {#- `with ordinality` numbers rows in file order (`row_number() over ()` does not
                promise to). #}
            ordinality as source_row_number,
            {%- else %}
            null::bigint as source_row_number,
            {%- endif %}
            {%- for names in columns %}
            {%- set found = find_column(header, names, path) %}
            {%- if is_parquet %}
            "{{ found }}"::varchar as {{ names[0] }}{{ "," if not loop.last }}
            {%- else %}
            column{{ header.index(found) }} as {{ names[0] }}{{ "," if not loop.last }}
            {%- endif %}
            {%- endfor %}
        {%- if is_parquet %}
        from read_parquet({{ path_sql }}, file_row_number = true{{ ", filename = true" if is_pattern }})
        {%- else %}
        from read_csv(
            {{ path_sql }},
            header = true,
            auto_detect = false,
            delim = ',',
            quote = '"',
            escape = '"',
            null_padding = true,
            strict_mode = false,
            columns = {
                {%- for name in header %}
                'column{{ loop.index0 }}': 'VARCHAR'{{ "," if not loop.last }}
                {%- endfor %}
            }
        ){{ " with ordinality" if numbered }}
        {%- endif %}
    {%- endif %}
{%- endmacro %}

{#- Whether an input path is a pattern of several files: it holds a wildcard (`*`, `?`, `[`),
    as DuckDB's and Spark's globs read them. -#}
{% macro is_file_pattern(path) -%}
    {{ return(modules.re.search('[*?\\[]', path) is not none) }}
{%- endmacro %}

{#- The trimmed column names of a CSV header line or a Parquet schema; stops the run with a
    message naming the file when it is missing or has no header. The first line is read whole
    by splitting on a control character no header holds; strict_mode off, so that a data row
    holding that character (a rejected store_id, say) cannot fail the read. -#}
{% macro input_header(path, quoted_path, is_parquet) -%}
    {%- set found = run_query("select count(*) from glob(" ~ quoted_path ~ ")").columns[0].values()[0] -%}
    {%- if found == 0 and is_file_pattern(path) -%}
        {{ exceptions.raise_compiler_error("no input file matches " ~ path) }}
    {%- elif found == 0 -%}
        {{ exceptions.raise_compiler_error("input file not found: " ~ path) }}
    {%- endif -%}
    {%- if is_parquet -%}
        {%- set names = run_query(
            "describe select * from read_parquet(" ~ quoted_path ~ ")").columns[0].values() -%}
        {{ return(names | map('trim') | list) }}
    {%- endif -%}
    {%- set lines = run_query(
        "select line from read_csv(" ~ quoted_path ~ ", columns = {'line': 'VARCHAR'},"
        ~ " header = false, auto_detect = false, delim = '\x1f', quote = '', escape = '',"
        ~ " strict_mode = false, parallel = false) limit 1"
    ).columns[0].values() -%}
    {%- if lines | length == 0 or not lines[0] -%}
        {{ exceptions.raise_compiler_error("input file " ~ path ~ " is empty: it needs a header row") }}
    {%- endif -%}
    {{ return(csv_header_names(lines[0])) }}
{%- endmacro %}

{#- The trimmed column names of a CSV header line; a UTF-8 byte-order mark is ignored. -#}
{% macro csv_header_names(line) -%}
    {#- CSV fields: "quoted" (commas and doubled quotes inside) or bare. -#}
    {%- set names = [] -%}
    {%- for quoted, bare in modules.re.findall(
        '(?:^|,)\\s*(?:"((?:[^"]|"")*)"|([^,]*))', line.replace('\ufeff', '')) -%}
        {%- do names.append((quoted | replace('""', '"') if quoted else bare) | trim) -%}
    {%- endfor -%}
    {{ return(names) }}
{%- endmacro %}

{#- The first of `names` that `header` has; stops the run naming the file and column if none. -#}
{% macro find_column(header, names, path) -%}
    {%- for name in names if name in header -%}
        {{ return(name) }}
    {%- endfor -%}
    {{ exceptions.raise_compiler_error(
        "input file " ~ path ~ " has no column " ~ names | join(" or ")
        ~ " (its header: " ~ header | join(", ") | replace("\t", "\\t") ~ ")"
        ~ other_delimiter_note(header)) }}
{%- endmacro %}

{#- For a header that is one name holding semicolons or tabs (a spreadsheet's "CSV" in some
    locales): a sentence saying so, to end the missing-column error with; else nothing. -#}
{% macro other_delimiter_note(header) -%}
    {%- if header | length == 1 -%}
        {%- for delimiter, name in [(';', 'semicolons'), ('\t', 'tabs')] if delimiter in header[0] -%}
            {{ return(". The header is separated by " ~ name
                ~ ", not commas: save the file as comma-separated CSV") }}
        {%- endfor -%}
    {%- endif -%}
    {{ return("") }}
{%- endmacro %}

{#- Spark reads a CSV file as lines of text, numbers them in file order (a single text file's
    partitions are its byte ranges in order, and monotonically_increasing_id grows with them),
    drops the header and blank lines as DuckDB does, then splits each line with from_csv:
    fields past the header's are ignored, missing ones are NULL. A seed is read from its CSV
    file too: a Spark table keeps no row order to number the rows by. Rows are always numbered
    (`numbered` is ignored): the numbering is part of the line split. -#}
{% macro spark__select_input(path_setting, seed_name, columns, numbered=true) -%}
    {%- set path = setting(path_setting) | trim -%}
    {%- set source_file = path -%}
    {%- if not path -%}
        {%- do ref(seed_name) -%} {#- the dependency on the seed #}
        {%- if execute -%}
            {%- set node = graph.nodes['seed.' ~ project_name ~ '.' ~ seed_name] -%}
            {%- set path = node.root_path ~ '/' ~ node.original_file_path -%}
            {%- set source_file = seed_name ~ '.csv' -%}
        {%- endif -%}
    {%- endif -%}
    {%- set quoted_path = "`" ~ path | replace("`", "``") ~ "`" -%}
    {%- if not execute -%}
        select 1 {#- parse time: the file is only read when the model runs -#}
    {%- elif path.lower().endswith('.parquet') -%}
        {%- set header = run_query("select * from parquet." ~ quoted_path ~ " limit 0").column_names | map('trim') | list -%}
        select
            {%- if is_file_pattern(path) %}
            {#- A local file's path as DuckDB gives it: without Spark's `file:` scheme. #}
            regexp_replace(_metadata.file_path, '^file:(//(?=/))?', '') as source_file,
            {%- else %}
            '{{ source_file | replace("\\", "\\\\") | replace("'", "\\'") }}' as source_file,
            {%- endif %}
            _metadata.row_index + 1 as source_row_number,
            {%- for names in columns %}
            cast(`{{ find_column(header, names, path) }}` as string) as {{ names[0] }}{{ "," if not loop.last }}
            {%- endfor %}
        from parquet.{{ quoted_path }}
    {%- else -%}
        {%- set first_lines = run_query("select value from text." ~ quoted_path ~ " limit 1").columns[0].values() -%}
        {%- if first_lines | length == 0 or not first_lines[0] -%}
            {{ exceptions.raise_compiler_error("input file " ~ path ~ " is empty: it needs a header row") }}
        {%- endif -%}
        {%- set header = csv_header_names(first_lines[0]) -%}
        select
            '{{ source_file | replace("\\", "\\\\") | replace("'", "\\'") }}' as source_file,
            cast(row_number() over (order by line_number) as bigint) as source_row_number,
            {%- for names in columns %}
            fields.column{{ header.index(find_column(header, names, path)) }} as {{ names[0] }}{{ "," if not loop.last }}
            {%- endfor %}
        from (
            select
                line_number,
                from_csv(
                    line,
                    '{% for name in header %}column{{ loop.index0 }} string{{ ", " if not loop.last }}{% endfor %}',
                    map('quote', '"', 'escape', '"', 'mode', 'PERMISSIVE')
                ) as fields
            from (
                select
                    value as line,
                    row_number() over (order by monotonically_increasing_id()) as line_number
                from text.{{ quoted_path }}
            ) as lines
            where
                line_number > 1 and line != ''
                {#- A quoted field left open at the end of its line goes on in the next line:
                    DuckDB's reader refuses such files, and so does this one, in the same
                    words (storemon.project rewords DuckDB's message). #}
                and coalesce(
                    case
                        when instr(line, '"') > 0
                            and regexp_replace(line, '"([^"]|"")*"', '') rlike '(^|,) *"'
                            then {{ raise_error(
                                "concat('line ', line_number, ': a quoted field spans lines,"
                                ~ " which storemon does not read')"
                            ) }}
                    end,
                    true
                )
        ) as rows
    {%- endif %}
{%- endmacro %}
