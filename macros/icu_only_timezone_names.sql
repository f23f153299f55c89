{#- Zone names that DuckDB's ICU accepts but the IANA tz database does not have: ICU's legacy
    three-letter IDs (`PST`, `IST`, `BST` = Asia/Dhaka …) and names IANA has removed. Zones are
    IANA names (docs/numbers.md, Timezones), so these are rejected as invalid. Renders as SQL
    string literals. -#}
{% macro icu_only_timezone_names() -%}
    'ACT', 'AET', 'AGT', 'ART', 'AST', 'BET', 'BST', 'CAT', 'CNT', 'CST', 'CTT', 'EAT', 'ECT',
    'IET', 'IST', 'JST', 'MIT', 'NET', 'NST', 'PLT', 'PNT', 'PRT', 'PST', 'SST', 'VST',
    'Canada/East-Saskatchewan', 'US/Pacific-New',
    'SystemV/AST4', 'SystemV/AST4ADT', 'SystemV/CST6', 'SystemV/CST6CDT', 'SystemV/EST5',
    'SystemV/EST5EDT', 'SystemV/HST10', 'SystemV/MST7', 'SystemV/MST7MDT', 'SystemV/PST8',
    'SystemV/PST8PDT', 'SystemV/YST9', 'SystemV/YST9YDT'
{%- endmacro %}
