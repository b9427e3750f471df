"""Web Push subscriptions: the browser's `PushSubscription.toJSON()` in, one row per device."""
from __future__ import annotations

from fastapi import APIRouter, Response, status

from televisit.auth.deps import AuthDep
from televisit.core.deps import NowDep, SessionDep, SettingsDep
from televisit.core.schemas import errors
from televisit.push import service
from televisit.push.schemas import (
    PushSubscriptionCreate,
    PushSubscriptionDelete,
    PushSubscriptionPublic,
    VapidPublicKey,
)

router = APIRouter(prefix="/push", tags=["push"])

REFUSALS = {422: {"push_endpoint_not_allowed": "the endpoint is not an https URL on an allowed push "
                                               "service (TELEVISIT_PUSH_ALLOWED_HOSTS)",
                  "push_keys_invalid": "keys.p256dh is not a P-256 point or keys.auth not 16 bytes"}}


@router.get("/vapid-public-key", operation_id="push-vapid-public-key", responses=errors(401, 403))
async def vapid_public_key(_auth: AuthDep, settings: SettingsDep) -> VapidPublicKey:
    """The key to subscribe with (`applicationServerKey`); `null` when push is off."""
    return VapidPublicKey(public_key=service.public_key(settings))


@router.post("/subscriptions", operation_id="push-subscribe", status_code=status.HTTP_201_CREATED,
             responses=errors(401, 403, 404, 422, refusals=REFUSALS))
async def subscribe(body: PushSubscriptionCreate, auth: AuthDep, session: SessionDep,
                    settings: SettingsDep, now: NowDep) -> PushSubscriptionPublic:
    """Ring this browser when a call comes and no app is open (and tell it of new messages).
    The same browser again replaces its subscription; signing out deletes it. 404 `push_off`:
    this server sends no pushes (no VAPID key configured)."""
    row = await service.subscribe(session, user=auth.user, session_id=auth.session.id, body=body,
                                  settings=settings, now=now)
    return PushSubscriptionPublic.model_validate(row)


@router.delete("/subscriptions", operation_id="push-unsubscribe", status_code=status.HTTP_204_NO_CONTENT,
               responses=errors(401, 403, 422))
async def unsubscribe(body: PushSubscriptionDelete, auth: AuthDep, session: SessionDep,
                      now: NowDep) -> Response:
    """Stop ringing this browser (204 whether or not it was subscribed)."""
    await service.unsubscribe(session, user=auth.user, endpoint=body.endpoint, now=now)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
