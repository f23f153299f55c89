"""`GET /incidents`: the incidents of the stores and the deliveries of each to the receivers
(docs/alerts.md)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query

from storemon.service.core import Service, get_service
from storemon.service.schemas import Incident

router = APIRouter(tags=["incidents"])
ServiceDependency = Annotated[Service, Depends(get_service)]


@router.get("/incidents", response_model=list[Incident])
def list_incidents(
    service: ServiceDependency,
    status: Annotated[
        Literal["open", "resolved"] | None, Query(description="only open or only resolved ones")
    ] = None,
    store_id: Annotated[str | None, Query(description="only this store's")] = None,
    limit: Annotated[int, Query(ge=1, le=10_000, description="at most this many")] = 100,
) -> list[Incident]:
    """Incidents, newest first, each with its deliveries: per receiver, whether it was
    delivered, how many tries it took, and the latest tries with the receiver's answer."""
    found = service.alerts.store.incidents(status, store_id, limit)
    return [Incident.model_validate(row) for row in found]
