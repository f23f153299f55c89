{# docs/numbers.md, Bad input: for every input, rows read = rows accepted + rows rejected. Rows
    read are counted straight from the input, not from the staging models (unnumbered: a parallel
    count). #}
{{ config(tags=['invariant']) }}
{%- set inputs = [
    ('store_status', 'status_path', 'stg_store_status'),
    ('menu_hours', 'hours_path', 'stg_menu_hours'),
    ('timezones', 'timezones_path', 'stg_timezones'),
] %}
with

{% for input_name, path_var, staging_model in inputs %}
{{ input_name }}_counts as (
    select
        '{{ input_name }}' as input_name,
        (select count(*) from ({{ select_input(
            path_var, input_name, input_columns(input_name), numbered=false) }}))
            as rows_read,
        (
            select count(*) from {{ ref(staging_model) }}
            where rejection_reason is null)
            as rows_accepted,
        (
            select count(*) from {{ ref('rejected_rows') }}
            where input_name = '{{ input_name }}')
            as rows_rejected
),

{% endfor %}
final as (
    {%- for input_name, _, _ in inputs %}
    select * from {{ input_name }}_counts
    {{ "union all" if not loop.last }}
    {%- endfor %}
)

select * from final
where rows_read != rows_accepted + rows_rejected
