"""Request and response models of the API; the OpenAPI document's schemas are generated from them."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, WithJsonSchema

# No control characters (NUL cannot even be stored in PostgreSQL text): the services refuse
# them too, but saying so in the schema keeps the document honest about what is accepted.
NO_CONTROL = r"^[^\x00-\x1f\x7f]*$"
DAY_PATTERN = r"^20[0-9]{2}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$"
Id = Annotated[int, Field(ge=1, le=2**31 - 1)]


def text(max_length: int, min_length: int = 0) -> Any:
    """A string type of at most max_length characters without control characters."""
    return Annotated[str, StringConstraints(max_length=max_length, min_length=min_length,
                                            pattern=NO_CONTROL)]


def _in_range(day: date) -> date:
    if not 2000 <= day.year <= 2099:
        raise ValueError("the year must be from 2000 to 2099")
    return day


# A calendar day in site time, YYYY-MM-DD, years 2000-2099 (what every form accepts).
Day = Annotated[date, AfterValidator(_in_range),
                WithJsonSchema({"type": "string", "format": "date", "pattern": DAY_PATTERN})]


class Body(BaseModel):
    """A JSON request body; fields it does not know are refused."""

    model_config = ConfigDict(extra="forbid")


class Query(BaseModel):
    """Query-string parameters (one value each; absent means the default); unknown ones are refused."""

    model_config = ConfigDict(extra="forbid")


class Out(BaseModel):
    """A response body, read from ORM rows or dicts by attribute."""

    model_config = ConfigDict(from_attributes=True)


class ErrorBody(Out):
    """What went wrong: a stable code, a message for people, and for 400 where."""

    code: str = Field(description="Stable machine-readable code, e.g. invalid_key, not_found.")
    message: str
    details: list[dict[str, Any]] | None = Field(
        default=None, description="400 only: pydantic's error locations and types (never values).")


class Error(Out):
    """Every error response."""

    error: ErrorBody


class Page(Query):
    """Keyset paging: newest first; pass `next_before` of a page as `before` for the next."""

    before: Id | None = None
    limit: int = Field(default=50, ge=1, le=200)

