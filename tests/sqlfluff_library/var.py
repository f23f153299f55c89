"""Stand-in for dbt's `var` when sqlfluff's jinja templater renders the models.

A structured var of dbt_project.yml (`input_columns`, the inputs' columns) is the project's own
value, so that the models render the columns dbt renders. Any other var is a run setting and
renders as sqlfluff's own stand-in does, as the text `item`: a set path or limit, so that the
branches reading a user's file are linted too. sqlfluff puts this module in the templating
context as `var`; the module is made callable for that.
"""

import sys
import types
from pathlib import Path

import yaml

_PROJECT_VARS = yaml.safe_load(
    (Path(__file__).resolve().parents[2] / "dbt_project.yml").read_text(encoding="utf-8")
)["vars"]


class _Var(types.ModuleType):
    def __call__(self, name: str, default: object = "") -> object:
        value = _PROJECT_VARS.get(name)
        return value if isinstance(value, dict) else "item"


sys.modules[__name__].__class__ = _Var
