"""Page views counted per day and route template: an aggregate about no one."""

from __future__ import annotations

from sqlalchemy import Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from parlour.core.datamap import not_personal
from parlour.db.base import Base


class PageViewCount(Base):
    __tablename__ = "analytics_page_views"

    day: Mapped[str] = mapped_column(
        String(10), primary_key=True, info=not_personal("the UTC day counted, YYYY-MM-DD")
    )
    route: Mapped[str] = mapped_column(
        String(200),
        primary_key=True,
        info=not_personal("the route template, such as /chat/{conversation_id}; no values"),
    )
    views: Mapped[int] = mapped_column(
        Integer, info=not_personal("how many consenting views that day")
    )
