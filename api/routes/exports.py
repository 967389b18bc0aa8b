"""Evidence export: a watermarked clip in a ZIP with a signed manifest, under a share.

``POST /api/shares/{share_id}/exports`` asks THE gate (``authorize_video(..., action="export",
share_id=...)``), commits its ``view`` record, cuts and watermarks the clip
(:mod:`geo.video.export`), commits the ``export`` record (with the file's SHA-256) and only then
sends the ZIP. ``GET /api/evidence/public-key`` serves the key that verifies the manifests.
"""

from __future__ import annotations

from fastapi import APIRouter, Response
from pydantic import BaseModel, ConfigDict, Field

from api.deps import ClientIP, CurrentUser, SessionDep
from api.validation import Int32Id, SafeText, SaneDatetime
from geo.access import gate
from geo.video import archive, export

router = APIRouter(tags=["evidence"])


class ExportIn(BaseModel):
    """What to export: one camera of the share, a window inside the share's, and why."""

    model_config = ConfigDict(extra="forbid")

    camera_id: Int32Id
    start: SaneDatetime = Field(..., description="ISO 8601 (no offset = KST)")
    end: SaneDatetime = Field(
        ..., description="ISO 8601; at most GOLDENTIME_MAX_CLIP_S after start"
    )
    reason: SafeText = Field(
        ...,
        min_length=1,
        max_length=export.MAX_REASON_CHARS,
        description="why this export is needed (the legal basis; kept in the audit log)",
    )


@router.post(
    "/api/shares/{share_id}/exports",
    response_class=Response,
    responses={
        200: {
            "content": {"application/zip": {}},
            "description": "ZIP: the watermarked MP4, manifest.json, manifest.sig (Ed25519), "
            "public_key.pem",
        }
    },
)
def create_export(
    share_id: Int32Id, body: ExportIn, session: SessionDep, user: CurrentUser, ip: ClientIP
) -> Response:
    """Export ``[start, end)`` of one of the share's cameras as evidence. 403 (audited) unless
    the caller is a recipient of the active share, from a registered address, and the window lies
    inside the share's; every frame carries a visible watermark (case, user, camera, time)."""
    start, end = archive.check_clip_window(body.start, body.end)
    share = gate.authorize_video(
        session,
        user=user,
        client_ip=ip,
        camera_id=body.camera_id,
        action="export",
        start=start,
        end=end,
        share_id=share_id,
    )
    session.commit()  # the gate's view record is durable before any work or byte
    ev = export.export_evidence(
        session,
        share=share,
        user=user,
        client_ip=ip,
        camera_id=body.camera_id,
        start=start,
        end=end,
        reason=body.reason,
    )
    session.commit()  # the export record (with the file's SHA-256) before the bytes leave
    return Response(
        ev.zip_bytes,
        media_type="application/zip",
        headers={
            "Content-Disposition": f'attachment; filename="{ev.filename}"',
            "Cache-Control": "no-store",
            "X-Evidence-SHA256": ev.manifest["file"]["sha256"],
            "X-Audit-Id": str(ev.audit_id),
        },
    )


@router.get(
    "/api/evidence/public-key",
    response_class=Response,
    responses={200: {"content": {"application/x-pem-file": {}}}},
)
def evidence_public_key(user: CurrentUser) -> Response:
    """The service's Ed25519 public key (PEM) that verifies evidence manifests; its SHA-256
    fingerprint (of the raw key) is in ``X-Key-SHA256`` and in every manifest."""
    pem = export.public_key_pem()
    fp = export.key_fingerprint(export.load_public_key(pem))
    return Response(
        pem,
        media_type="application/x-pem-file",
        headers={"X-Key-SHA256": fp, "Cache-Control": "no-cache"},
    )
