"""Artifacts in S3 or an S3-compatible server (MinIO, Ceph, moto), through boto3.

boto3 is the optional ``[s3]`` extra and is imported here only. Directories do not exist in S3:
a "directory" is the common prefix of the keys under it, so it appears with its first file and
disappears with its last, which the local store imitates.

Credentials and region come from boto3's usual chain (environment, shared config, instance
role); cnai adds only the endpoint URL, for S3-compatible servers.
"""

from __future__ import annotations

import builtins
import contextlib
import logging
import re
import threading
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, BinaryIO
from urllib.parse import urlsplit

import boto3
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, ParamValidationError

from cnai.artifacts.base import CHUNK_SIZE, ArtifactStore, ArtifactWriter, FileInfo
from cnai.artifacts.paths import join, safe_relpath
from cnai.errors import InvalidArgument, NotFound, Unavailable

# S3's own limits: parts of a multipart upload are at least 5 MiB (except the last), and one
# DeleteObjects call takes at most 1000 keys.
MIN_PART_SIZE = 5 * 1024 * 1024
MAX_PARTS = 10_000
_DELETE_BATCH = 1000

# Streamed uploads (``writer``): parts of 8 MiB, growing by 8 MiB every 1000 parts so the 10,000
# parts S3 allows reach about 430 GiB; an upload holds at most two parts in memory (one being
# sent while the next fills). A body that ends before its first part is full is one PutObject.
STREAM_PART_SIZE = 8 * 1024 * 1024
_PARTS_PER_SIZE = 1000
# Part uploads of all streamed writes share these threads: one part in flight per upload.
_PART_THREADS = 16

# AWS's rules are stricter (lower case, at most 63); S3-compatible servers and old buckets allow more.
_BUCKET = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{1,253}[A-Za-z0-9]$")
_DENIED = frozenset({"AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken", "403"})
_RETRYABLE = frozenset({"SlowDown", "ServiceUnavailable", "InternalError", "RequestTimeout", "503", "500"})

logger = logging.getLogger(__name__)

# One boto3 session for the process: a fresh session reloads botocore's service models (about
# 0.1 s per store). Sessions are not thread-safe, so clients are created under a lock; the
# clients themselves are thread-safe.
_session: boto3.session.Session | None = None
_session_lock = threading.Lock()


def _new_client(endpoint_url: str, config: Config) -> Any:
    global _session
    with _session_lock:
        if _session is None:
            _session = boto3.session.Session()
        return _session.client("s3", endpoint_url=endpoint_url or None, config=config)


def parse_s3_uri(uri: str) -> tuple[str, str]:
    """``s3://bucket/some/prefix/`` -> ``("bucket", "some/prefix")``."""
    parts = urlsplit(uri)
    if parts.scheme != "s3" or not parts.netloc:
        raise InvalidArgument(f"Invalid S3 URI {uri!r}: expected s3://bucket[/prefix]")
    if parts.query or parts.fragment:
        raise InvalidArgument(f"Invalid S3 URI {uri!r}: query strings and fragments are not allowed")
    if not _BUCKET.match(parts.netloc):
        raise InvalidArgument(f"Invalid S3 URI {uri!r}: {parts.netloc!r} is not a valid bucket name")
    return parts.netloc, safe_relpath(parts.path.lstrip("/"))


class S3ArtifactStore(ArtifactStore):
    """An :class:`ArtifactStore` under ``s3://bucket/prefix``."""

    def __init__(
        self,
        uri: str,
        *,
        endpoint_url: str = "",
        multipart_threshold: int = 64 * 1024 * 1024,
        multipart_chunksize: int = 16 * 1024 * 1024,
        list_page_size: int = 1000,
    ) -> None:
        self._bucket, self._prefix = parse_s3_uri(uri)
        self.root_uri = f"s3://{self._bucket}/{self._prefix}" if self._prefix else f"s3://{self._bucket}"
        if multipart_chunksize < MIN_PART_SIZE:
            raise InvalidArgument(f"multipart_chunksize must be at least {MIN_PART_SIZE} bytes (S3's minimum)")
        self._transfer = TransferConfig(
            multipart_threshold=multipart_threshold, multipart_chunksize=multipart_chunksize
        )
        self._page_size = list_page_size
        # S3-compatible servers are usually reached by IP or a single host name, where
        # virtual-hosted addressing (bucket.host) cannot resolve: use path-style for them.
        config = Config(
            s3={"addressing_style": "path"} if endpoint_url else {},
            retries={"mode": "standard"},
        )
        # A boto3 client is thread-safe (a resource is not); the API layer calls from a threadpool.
        self._client: Any = _new_client(endpoint_url, config)
        self._part_size = STREAM_PART_SIZE
        self._part_pool: ThreadPoolExecutor | None = None
        self._pool_lock = threading.Lock()

    def writer(self, path: str) -> ArtifactWriter:
        rel = safe_relpath(path)
        if not rel:
            raise InvalidArgument("Invalid path: '' names the artifact root, not a file")
        with self._pool_lock:  # made on first use: most stores never stream an upload
            if self._part_pool is None:
                self._part_pool = ThreadPoolExecutor(_PART_THREADS, thread_name_prefix="cnai-s3-part")
        return _S3Writer(self, self._key(rel), path, self._part_pool)

    def write(self, path: str, src: BinaryIO) -> int:
        rel = safe_relpath(path)
        if not rel:
            raise InvalidArgument("Invalid path: '' names the artifact root, not a file")
        key = self._key(rel)
        counted = _CountingReader(src)
        with self._errors(path):
            # upload_fileobj switches to a multipart upload above the threshold; S3 makes the
            # object visible only once complete, so readers never see half of it.
            self._client.upload_fileobj(counted, self._bucket, key, Config=self._transfer)
        return counted.count

    def open(self, path: str) -> tuple[Iterator[bytes], int]:
        rel = safe_relpath(path)
        if not rel:
            raise NotFound("No artifact file at '': it is the artifact root")
        key = self._key(rel)
        with self._errors(path):
            try:
                response = self._client.get_object(Bucket=self._bucket, Key=key)
            except ClientError as exc:
                if _code(exc) in ("NoSuchKey", "404"):
                    raise NotFound(f"No artifact file at {path!r}") from None
                raise
        body = response["Body"]
        return _BodyChunks(body), int(response["ContentLength"])

    def list(self, path: str = "") -> builtins.list[FileInfo]:
        rel = safe_relpath(path)
        prefix = self._dir_prefix(rel)
        infos: builtins.list[FileInfo] = []
        paginator = self._client.get_paginator("list_objects_v2")
        pages = paginator.paginate(
            Bucket=self._bucket,
            Prefix=prefix,
            Delimiter="/",
            PaginationConfig={"PageSize": self._page_size},
        )
        with self._errors(path):
            for page in pages:
                for common in page.get("CommonPrefixes", []):
                    name = common["Prefix"][len(prefix) :].rstrip("/")
                    if name:
                        infos.append(FileInfo(join(rel, name), True, None))
                for obj in page.get("Contents", []):
                    name = obj["Key"][len(prefix) :]
                    # A key equal to the prefix is a "folder marker" some consoles create.
                    if name:
                        infos.append(FileInfo(join(rel, name), False, int(obj["Size"])))
        return sorted(infos, key=lambda info: info.path)

    def delete(self, path: str) -> None:
        rel = safe_relpath(path)
        if not rel:
            raise InvalidArgument("Invalid path: refusing to delete the artifact root")
        key = self._key(rel)
        with self._errors(path):
            keys = [key] if self._object_exists(key) else []
            keys.extend(self._keys_under(self._dir_prefix(rel)))
            if not keys:
                raise NotFound(f"No artifact at {path!r}")
            for start in range(0, len(keys), _DELETE_BATCH):
                batch = keys[start : start + _DELETE_BATCH]
                response = self._client.delete_objects(
                    Bucket=self._bucket,
                    Delete={"Objects": [{"Key": k} for k in batch], "Quiet": True},
                )
                if errors := response.get("Errors"):
                    first = errors[0]
                    raise Unavailable(
                        f"Could not delete {len(errors)} object(s) under {path!r}, "
                        f"e.g. {first.get('Key')!r}: {first.get('Code')} {first.get('Message')}"
                    )

    def exists(self, path: str) -> bool:
        rel = safe_relpath(path)
        with self._errors(path):
            if rel and self._object_exists(self._key(rel)):
                return True
            response = self._client.list_objects_v2(Bucket=self._bucket, Prefix=self._dir_prefix(rel), MaxKeys=1)
            return bool(response.get("KeyCount", 0))

    # -- helpers ---------------------------------------------------------------------------------

    def _key(self, rel: str) -> str:
        """The object key of an already-normalised relative path."""
        return join(self._prefix, rel)

    def _dir_prefix(self, rel: str) -> str:
        """The key prefix of everything inside directory ``rel``, ending in '/' (or '' at the top)."""
        base = join(self._prefix, rel)
        return f"{base}/" if base else ""

    def _object_exists(self, key: str) -> bool:
        try:
            self._client.head_object(Bucket=self._bucket, Key=key)
        except ClientError as exc:
            # HEAD answers have no body, so a missing bucket also reads as a bare 404 here; the
            # listing that follows in every caller reports it properly as NoSuchBucket.
            if _code(exc) in ("404", "NoSuchKey", "NotFound"):
                return False
            raise
        return True

    def _keys_under(self, prefix: str) -> builtins.list[str]:
        paginator = self._client.get_paginator("list_objects_v2")
        pages = paginator.paginate(Bucket=self._bucket, Prefix=prefix, PaginationConfig={"PageSize": self._page_size})
        return [obj["Key"] for page in pages for obj in page.get("Contents", [])]

    @contextlib.contextmanager
    def _errors(self, path: str) -> Iterator[None]:
        """Map the S3 errors a caller or an operator can act on; anything else stays a 500."""
        try:
            yield
        except ClientError as exc:
            code = _code(exc)
            if code == "NoSuchBucket":
                raise Unavailable(
                    f"S3 bucket {self._bucket!r} does not exist (artifact root {self.root_uri}); "
                    "create it or point the artifact root elsewhere"
                ) from None
            if code in _DENIED:
                raise Unavailable(f"Access to {self.root_uri} was denied ({code}): check the credentials") from None
            if code == "KeyTooLongError":
                raise InvalidArgument(f"Invalid path: {path[:80]!r}... is too long for S3") from None
            if code in _RETRYABLE:
                raise Unavailable(f"S3 is unavailable for {self.root_uri} ({code}); retry later") from None
            raise
        except ParamValidationError as exc:
            raise InvalidArgument(f"Invalid S3 request for {path!r}: {exc}") from None
        except BotoCoreError as exc:
            # Connection refused, timeouts, no credentials: the store cannot be reached.
            raise Unavailable(f"Cannot reach the artifact store {self.root_uri}: {exc}") from None


class _S3Writer(ArtifactWriter):
    """A streamed upload: PutObject when the body fits one part, else a multipart upload.

    S3 shows a multipart object only once CompleteMultipartUpload succeeds, so an aborted or
    failed upload leaves nothing at the key; ``abort`` also deletes the uploaded parts, which S3
    would otherwise keep (and bill) until a lifecycle rule removes them.
    """

    def __init__(self, store: S3ArtifactStore, key: str, path: str, pool: ThreadPoolExecutor) -> None:
        self._store, self._key, self._path, self._pool = store, key, path, pool
        self._client = store._client
        self._bucket = store._bucket
        self._buffer = bytearray()
        self._size = 0
        self._upload_id: str | None = None
        self._parts: list[dict[str, Any]] = []
        self._in_flight: Future[dict[str, Any]] | None = None

    def _next_part_size(self) -> int:
        return self._store._part_size * (1 + len(self._parts) // _PARTS_PER_SIZE)

    def write(self, data: bytes) -> None:
        self._buffer += data
        self._size += len(data)
        while len(self._buffer) >= (part_size := self._next_part_size()):
            part = bytes(self._buffer[:part_size])
            del self._buffer[:part_size]
            self._send(part)

    def _send(self, part: bytes) -> None:
        """Hand one part to the pool once the previous one is done (one in flight, two in memory)."""
        self._wait()
        if len(self._parts) >= MAX_PARTS:
            raise InvalidArgument(f"Artifact {self._path!r} is larger than S3's {MAX_PARTS} parts allow")
        with self._store._errors(self._path):
            if self._upload_id is None:
                created = self._client.create_multipart_upload(Bucket=self._bucket, Key=self._key)
                self._upload_id = str(created["UploadId"])
        number = len(self._parts) + 1
        self._parts.append({"PartNumber": number})  # its ETag is filled in by _wait
        self._in_flight = self._pool.submit(self._upload_part, number, part)

    def _upload_part(self, number: int, part: bytes) -> dict[str, Any]:
        response = self._client.upload_part(
            Bucket=self._bucket, Key=self._key, UploadId=self._upload_id, PartNumber=number, Body=part
        )
        return {"PartNumber": number, "ETag": response["ETag"]}

    def _wait(self) -> None:
        if self._in_flight is None:
            return
        future, self._in_flight = self._in_flight, None
        with self._store._errors(self._path):
            done = future.result()
        self._parts[done["PartNumber"] - 1] = done

    def commit(self) -> int:
        try:
            if self._upload_id is None:
                with self._store._errors(self._path):
                    self._client.put_object(Bucket=self._bucket, Key=self._key, Body=bytes(self._buffer))
            else:
                if self._buffer:  # the last part may be smaller than 5 MiB
                    self._send(bytes(self._buffer))
                    self._buffer.clear()
                self._wait()
                with self._store._errors(self._path):
                    self._client.complete_multipart_upload(
                        Bucket=self._bucket,
                        Key=self._key,
                        UploadId=self._upload_id,
                        MultipartUpload={"Parts": self._parts},
                    )
        except BaseException:
            self.abort()
            raise
        self._upload_id = None
        return self._size

    def abort(self) -> None:
        self._buffer = bytearray()
        future, self._in_flight = self._in_flight, None
        if future is not None:
            with contextlib.suppress(Exception):
                future.result()  # a part still being sent would otherwise outlive the abort
        upload_id, self._upload_id = self._upload_id, None
        if upload_id is None:
            return
        try:
            self._client.abort_multipart_upload(Bucket=self._bucket, Key=self._key, UploadId=upload_id)
        except ClientError as exc:
            if _code(exc) != "NoSuchUpload":
                logger.warning("could not abort the multipart upload of %s: %s", self._key, exc)
        except BotoCoreError as exc:
            logger.warning("could not abort the multipart upload of %s: %s", self._key, exc)


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


class _CountingReader:
    """A read-only view of a stream that counts the bytes handed to boto3.

    It exposes no ``seek``, so s3transfer reads it front to back into part-sized buffers (which
    also makes retries of a part possible) instead of seeking around the caller's stream.
    """

    def __init__(self, src: BinaryIO) -> None:
        self._src = src
        self.count = 0

    def read(self, size: int = -1) -> bytes:
        data = self._src.read(size)
        self.count += len(data)
        return data

    def readable(self) -> bool:
        return True


class _BodyChunks(Iterator[bytes]):
    """Chunks of a GetObject body; releases the HTTP connection when exhausted or closed."""

    def __init__(self, body: Any) -> None:
        self._body = body
        self._chunks: Iterator[bytes] = body.iter_chunks(CHUNK_SIZE)

    def __next__(self) -> bytes:
        try:
            return next(self._chunks)
        except StopIteration:
            self._body.close()
            raise

    def close(self) -> None:
        self._body.close()
