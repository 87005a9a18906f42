"""Refusing an upload that is too large before it is stored, and where the size is announced,
before its body is read.

`refuse_by_length` compares the request's Content-Length with the upload limit before anything
touches the body. `LimitedUploadHandler` goes first among the request's upload handlers and
counts files and bytes while the body streams in: past a limit it stops the upload (Django reads
and drops the rest, so the client still gets the answer) and keeps the message for the view.
"""
from django.core.files.uploadhandler import FileUploadHandler, StopUpload

from . import services

# What a multipart body adds around its files (boundaries, headers, the CSRF field).
MULTIPART_OVERHEAD = 64 * 1024


def refuse_by_length(request) -> str:
    """The message refusing this upload by its announced size, or "" if it may be read."""
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return ""
    if length > services.limits().upload_bytes + MULTIPART_OVERHEAD:
        return services.upload_too_large_message()
    return ""


class LimitedUploadHandler(FileUploadHandler):
    def __init__(self, request=None):
        super().__init__(request)
        self.limits = services.limits()
        self.files = 0
        self.total = 0
        self.current = 0

    def _refuse(self, message: str):
        self.request.upload_refusal = message
        raise StopUpload(connection_reset=False)

    def new_file(self, field_name, file_name, content_type, content_length, charset=None, content_type_extra=None):
        super().new_file(field_name, file_name, content_type, content_length, charset, content_type_extra)
        self.files += 1
        self.current = 0
        if self.files > self.limits.files:
            self._refuse(services.too_many_files_message())

    def receive_data_chunk(self, raw_data, start):
        self.current += len(raw_data)
        self.total += len(raw_data)
        if self.current > self.limits.file_bytes:
            self._refuse(services.file_too_large_message(self.file_name or ""))
        if self.total > self.limits.upload_bytes:
            self._refuse(services.upload_too_large_message())
        return raw_data

    def file_complete(self, file_size):
        return None  # the next handler (memory or temporary file) keeps the file
