"""What a form field is for, read from the data map declaration of the column it fills.

Forms show these hints next to personal fields (P-ACC-1), so the reason a person reads on the
page is the reason the data map records: there is no second list to keep in step.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import inspect

from parlour.core.datamap import DATAMAP_KEY, Personal


@dataclass(frozen=True)
class FieldHint:
    field: str
    use: str  # the declaration's description: what the value is used for
    required: bool  # a column that cannot be empty is a field that must be filled

    @property
    def text(self) -> str:
        use = self.use[:1].upper() + self.use[1:]
        if self.required:
            return f"Required. {use}."
        return f"Optional. {use}. If you leave it empty, only this is unavailable."


def field_hints(model: type[Any], fields: tuple[str, ...]) -> dict[str, FieldHint]:
    """One hint per field, each from its column's declaration; fails loudly on an undeclared one."""
    columns = inspect(model).columns
    hints: dict[str, FieldHint] = {}
    for field in fields:
        column = columns[field]
        declaration = column.info.get(DATAMAP_KEY)
        if not isinstance(declaration, Personal) or not declaration.description:
            raise LookupError(f"{model.__name__}.{field} declares no description of its use")
        hints[field] = FieldHint(field, declaration.description, not column.nullable)
    return hints
