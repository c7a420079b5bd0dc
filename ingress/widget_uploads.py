"""A visitor's files: ``POST /v1/widget/uploads`` (the raw file as the body) and
``GET /v1/widget/uploads/{upload_id}`` (only to the visitor who uploaded it).

The widget's ``upload`` limits decide: 415 for a type it does not allow, 413 past its
``max_bytes``, both before anything is stored. A file goes back with its own type, ``nosniff``
and a ``Content-Disposition`` that names it, so a browser never runs it as a page.
"""

from __future__ import annotations

from urllib.parse import quote

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ingress.api_models import UploadView, created
from ingress.body import read_limited
from ingress.operations import Answer, Operation, Param, documented
from ingress.problems import Problem
from ingress.state import IngressState
from ingress.visitor_auth import VisitorRoute, visitor_of

MAX_FILENAME = 255
UPLOAD = "/v1/widget/uploads"


def _filename(request: Request) -> str:
    name = request.query_params.get("filename") or "upload"
    if len(name) > MAX_FILENAME or any(c in name for c in '/\\"') or not name.isprintable():
        raise Problem(
            400,
            "invalid-filename",
            "Invalid filename",
            f'filename must be at most {MAX_FILENAME} printable characters, without / \\ or "',
        )
    return name


def _disposition(content_type: str, filename: str) -> str:
    fallback = "".join(c if c.isascii() and c.isprintable() else "_" for c in filename)
    kind = "inline" if content_type.startswith("image/") else "attachment"
    return f"{kind}; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


@documented(
    Operation(
        "createVisitorUpload",
        "Upload a file to the visitor's conversation",
        "widget",
        (Answer(201, "Stored; attach it to a message by its `upload_id`.", UploadView),),
        {
            400: "`invalid-filename`: `filename` is longer than 255 characters or holds "
            'control characters, `/`, `\\` or `"`; `empty-upload`: the body is empty.',
            413: "`payload-too-large`: the file exceeds the widget's `upload.max_bytes`.",
            415: "`unsupported-media-type`: `Content-Type` is not one of the widget's "
            "`upload.types`.",
        },
        params=(Param("filename", "query", "The file's name, shown to the bot and the visitor."),),
        body={"application/octet-stream": {"type": "string", "format": "binary"}},
        body_description="The raw file; its type as `Content-Type`.",
    )
)
async def create_upload(request: Request) -> JSONResponse:
    state: IngressState = request.state.parley
    visitor, widget = visitor_of(request)
    limits = widget.get("upload") or {}
    content_type = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if content_type not in limits.get("types", ()):
        raise Problem(
            415,
            "unsupported-media-type",
            "Unsupported media type",
            f"this widget takes {', '.join(limits.get('types', ())) or 'no uploads'}",
        )
    filename = _filename(request)
    data = await read_limited(request, int(limits.get("max_bytes", 0)))
    if not data:
        raise Problem(400, "empty-upload", "Empty upload", "the body holds no file")
    upload = await run_in_threadpool(
        state.uploads.create,
        visitor.tenant_id,
        visitor.widget_id,
        visitor.visitor_id,
        content_type,
        filename,
        data,
    )
    path = f"{UPLOAD}/{upload['_id']}"
    view = UploadView(
        upload_id=upload["_id"],
        content_type=content_type,
        size=upload["size"],
        filename=filename,
        url=state.settings.public_base_url.rstrip("/") + path,
    )
    return created(view, path)


@documented(
    Operation(
        "getVisitorUpload",
        "One of the visitor's files",
        "widget",
        (
            Answer(
                200,
                "The file, with its type and name.",
                schema={"type": "string", "format": "binary"},
                media_type="application/octet-stream",
                headers={"Content-Disposition": "the file's name"},
            ),
        ),
        {404: "`not-found`: no such upload of this visitor."},
        params=(Param("upload_id", "path", "The upload's id (`upl_…`)."),),
    )
)
async def get_upload(request: Request) -> Response:
    state: IngressState = request.state.parley
    visitor, _ = visitor_of(request)
    upload = await run_in_threadpool(
        state.uploads.get,
        visitor.tenant_id,
        visitor.widget_id,
        visitor.visitor_id,
        request.path_params["upload_id"],
    )
    return Response(
        upload["data"],
        media_type=upload["content_type"],
        headers={
            "Content-Disposition": _disposition(upload["content_type"], upload["filename"]),
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "private, no-store",
        },
    )


routes = [
    VisitorRoute(UPLOAD, create_upload, methods=["POST"]),
    VisitorRoute(UPLOAD + "/{upload_id}", get_upload, methods=["GET"]),
]
