"""Uploaded files: read with a size cap, named safely (one place for every page that takes a file)."""

from __future__ import annotations

from pathlib import PurePosixPath

from fastapi import UploadFile

from rareeco.errors import ValidationFailed

MAX_UPLOAD_BYTES = 100 * 1024 * 1024       # larger files: the command line (rareeco import, rareeco meter import)


def safe_file_name(name: str | None, default: str = "upload.csv") -> str:
    """The base name of an uploaded file, safe as a file name here: no folders, no control characters, at most
    200 bytes (a file system allows 255), never ``.`` or ``..``."""
    base = PurePosixPath((name or "").replace("\\", "/")).name.strip()
    base = "".join(c if c.isprintable() else "_" for c in base)
    base = base.encode("utf-8")[:200].decode("utf-8", errors="ignore")
    return base if base.strip(".") else default


def read_upload(file: UploadFile | None, what: str = "a CSV or XLSX file", default: str = "upload.csv"
                ) -> tuple[bytes, str]:
    """The uploaded file's bytes and a safe file name (refused: no file, an empty one, one above 100 MB)."""
    if file is None or not (file.filename or "").strip():
        raise ValidationFailed("no file chosen", fix=f"choose {what} to upload")
    data = file.file.read(MAX_UPLOAD_BYTES + 1)
    if len(data) > MAX_UPLOAD_BYTES:
        raise ValidationFailed("the file is larger than 100 MB",
                               fix="split it into several files, or import it with the command line")
    if not data:
        raise ValidationFailed("the file is empty", fix="choose the file with your data")
    return data, safe_file_name(file.filename, default)
