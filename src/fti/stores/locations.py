"""Where a store keeps its files: a local folder or a prefix on object storage, by URL.

``/abs/path`` or ``file:///abs/path``
    A local (or mounted) folder.
``s3://bucket/prefix``
    AWS S3 and S3-compatible stores (MinIO, Ceph, R2). Credentials come from the AWS provider
    chain (``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``, ``AWS_PROFILE``, instance roles);
    an S3-compatible endpoint from ``AWS_ENDPOINT_URL`` (or ``AWS_ENDPOINT_URL_S3``), plain
    HTTP (a loopback test server) only with ``AWS_ALLOW_HTTP=true``; the region from
    ``AWS_REGION`` or ``AWS_DEFAULT_REGION``.
``gs://bucket/prefix``
    Google Cloud Storage, with Google's application default credentials.
``az://container/prefix`` or ``abfss://container@account.dfs.core.windows.net/prefix``
    Azure Blob Storage / ADLS Gen2; the account from the URL or ``AZURE_STORAGE_ACCOUNT_NAME``,
    credentials from Azure's default chain (or ``AZURE_STORAGE_ACCOUNT_KEY``).

Files are read and written through Arrow's own C++ filesystems (``pyarrow.fs``), Delta tables
through delta-rs, which reads the same variables (ADR 0007). No credential is ever part of a
:class:`Location`'s ``repr()`` or of a message: they stay in the environment.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from fti.errors import ConfigError, FtiError, InvalidNameError, StoreError

OBJECT_SCHEMES = ("s3", "gs", "az", "abfss")
_SUPPORTED = (
    "a local path, file:///path, s3://bucket/prefix, gs://bucket/prefix, az://container/prefix"
)


@dataclass(frozen=True)
class Location:
    """The root of a store: a local folder or an object-storage prefix."""

    scheme: str
    """``file``, ``s3``, ``gs``, ``az`` (``abfss`` URLs are read as ``az``)."""
    root: str
    """The root as the filesystem names it: ``/abs/path`` locally, ``bucket/prefix`` remotely."""
    display: str
    """The URL without any user information, for messages and ``repr()``."""
    storage_options: dict[str, str] = field(default_factory=dict, repr=False)
    """Options delta-rs needs beyond the environment (never credentials)."""
    _account: str | None = field(default=None, repr=False)

    @property
    def is_local(self) -> bool:
        """Whether the root is a folder of this machine."""
        return self.scheme == "file"

    def path(self, relative: str = "") -> str:
        """The filesystem path of ``relative`` (a '/'-separated path inside the root)."""
        parts = _relative_parts(relative)
        return "/".join([self.root.rstrip("/"), *parts]) if parts else self.root

    def uri(self, relative: str = "") -> str:
        """The URI of ``relative`` for delta-rs: a local path, or ``scheme://bucket/...``."""
        path = self.path(relative)
        if self.is_local:
            return path
        return f"{self.scheme}://{path}"

    def filesystem(self) -> Any:
        """A ``pyarrow.fs.FileSystem`` reaching the root (paths from :meth:`path`)."""
        import pyarrow.fs as pafs

        if self.is_local:
            return pafs.LocalFileSystem()
        if self.scheme == "s3":
            return pafs.S3FileSystem(**_s3_options())
        if self.scheme == "gs":
            return pafs.GcsFileSystem()
        account = self._account or os.environ.get("AZURE_STORAGE_ACCOUNT_NAME")
        if not account:
            raise ConfigError(
                f"{self.display}: set AZURE_STORAGE_ACCOUNT_NAME (or use an abfss:// URL "
                "naming the account) to reach Azure storage"
            )
        key = os.environ.get("AZURE_STORAGE_ACCOUNT_KEY")
        return pafs.AzureFileSystem(account_name=account, account_key=key)

    def __str__(self) -> str:
        return self.display


def open_location(url: str | Path, *, home: Path | None = None) -> Location:
    """The :class:`Location` of ``url``; ConfigError for a URL fti cannot use.

    A relative local path is taken relative to ``home`` (else the working folder).
    """
    text = str(url)
    parts = urlsplit(text)
    scheme = parts.scheme.lower()
    if scheme in ("", "file") or (len(scheme) == 1 and os.name == "nt"):
        local = text.removeprefix("file://") if scheme == "file" else text
        path = Path(local).expanduser()
        if not path.is_absolute():
            path = (home or Path.cwd()) / path
        resolved = path.resolve()
        return Location("file", str(resolved), str(resolved))
    if scheme not in OBJECT_SCHEMES:
        raise ConfigError(f"unsupported storage URL scheme {scheme}://; use {_SUPPORTED}")
    display = urlunsplit((scheme, parts.hostname or "", parts.path, "", ""))
    if parts.query or parts.fragment:
        raise ConfigError(f"storage URL {display} must not carry a query or fragment")
    if scheme == "abfss":
        # abfss://container@account.dfs.core.windows.net/prefix
        container = parts.username or ""
        account = (parts.hostname or "").split(".")[0] or None
        if not container:
            raise ConfigError(
                f"{display}: use abfss://container@account.dfs.core.windows.net/prefix"
            )
        root = "/".join(p for p in [container, *_url_parts(parts.path)] if p)
        return Location(
            "az", root, f"abfss://{container}@{parts.hostname}{parts.path}", {}, account
        )
    if parts.username or parts.password:
        raise ConfigError(
            f"storage URL {display} must not hold credentials: they come from the environment"
        )
    bucket = parts.hostname or ""
    if not bucket:
        raise ConfigError(f"storage URL {display} names no bucket: use {scheme}://bucket/prefix")
    root = "/".join([bucket, *_url_parts(parts.path)])
    options = {"conditional_put": "etag"} if scheme == "s3" else {}
    return Location(scheme, root, display, options)


def _url_parts(path: str) -> list[str]:
    parts = [p for p in path.split("/") if p]
    if any(p in (".", "..") for p in parts):
        raise ConfigError(f"storage URL path {path!r} must not contain '.' or '..'")
    return parts


def _relative_parts(relative: str) -> list[str]:
    """The parts of a path inside a root; InvalidNameError when it could leave the root."""
    if not relative:
        return []
    parts = relative.split("/")
    if "\\" in relative or "\x00" in relative or any(p in ("", ".", "..") for p in parts):
        raise InvalidNameError(f"invalid storage path {relative!r}")
    return parts


def _s3_options() -> dict[str, Any]:
    """Arrow's S3 options from the same variables delta-rs reads."""
    options: dict[str, Any] = {}
    endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    if endpoint:
        scheme = urlsplit(endpoint).scheme.lower()
        if scheme == "http" and os.environ.get("AWS_ALLOW_HTTP", "").lower() != "true":
            raise ConfigError(
                f"AWS_ENDPOINT_URL is plain HTTP ({endpoint}): set AWS_ALLOW_HTTP=true to allow "
                "it (only for a test server on a trusted network)"
            )
        options["endpoint_override"] = endpoint
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    if region:
        options["region"] = region
    return options


# Failures reaching a location ------------------------------------------------------------------

# Variables whose values never appear in a message: they are (parts of) credentials.
_SECRET_VARIABLES = (
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AZURE_STORAGE_ACCOUNT_KEY",
    "AZURE_STORAGE_SAS_TOKEN",
    "AZURE_CLIENT_SECRET",
    "GOOGLE_SERVICE_ACCOUNT_KEY",
)
# How delta-rs (Rust object_store) and Arrow (the AWS SDK) say that no credentials were found:
# object_store falls back to the instance metadata endpoint last.
_NO_CREDENTIALS = ("169.254.169.254", "no credentials", "unable to locate credentials")
# ... and that the store refused the ones given.
_REFUSED = (
    "invalidaccesskeyid",
    "invalid_access_key_id",
    "signaturedoesnotmatch",
    "signature_does_not_match",
    "expiredtoken",
    "expired_token",
    "accessdenied",
    "access_denied",
    "403 forbidden",
    "401 unauthorized",
    "lacked the necessary privileges",
    "authenticationfailed",
    "authorizationfailure",
)
# ... and that no answer came at all.
_UNREACHABLE = (
    "error sending request",
    "network_connection",
    "connection refused",
    "connection reset",
    "timed out",
    "dns error",
    "couldn't connect",
)
_CREDENTIALS = {
    "s3": "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_PROFILE, or an instance role)",
    "gs": "GOOGLE_APPLICATION_CREDENTIALS (or other application default credentials)",
    "az": "AZURE_STORAGE_ACCOUNT_KEY (or AZURE_CLIENT_ID, AZURE_CLIENT_SECRET and AZURE_TENANT_ID)",
}
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_XML_FIELD = re.compile(r"<(Code|Message)>([^<]*)</\1>")


def storage_error(location: Location, exc: BaseException, what: str) -> FtiError:
    """The fti error for ``exc``, raised while ``what`` (e.g. "offline table p/g_v1") was
    reached at ``location``: a ConfigError naming the variables to set when credentials are
    missing or refused, else a StoreError. No secret of the environment is in the message."""
    text = describe(exc)
    lowered = text.lower()
    variables = _CREDENTIALS.get(location.scheme, "the store's credentials")
    if any(marker in lowered for marker in _NO_CREDENTIALS):
        return ConfigError(
            f"{what} at {location.display}: no credentials found; set {variables} ({text})"
        )
    if any(marker in lowered for marker in _REFUSED):
        return ConfigError(
            f"{what} at {location.display}: the store refused the credentials; check {variables} "
            f"and the permissions they grant ({text})"
        )
    if unreachable(exc):
        return StoreError(f"{what} at {location.display}: the store cannot be reached ({text})")
    return StoreError(f"{what} at {location.display} failed: {text}")


def unreachable(exc: BaseException) -> bool:
    """Whether ``exc`` says that the store did not answer (network, DNS, timeouts)."""
    lowered = str(exc).lower()
    return any(marker in lowered for marker in _UNREACHABLE)


def describe(exc: BaseException) -> str:
    """The message of ``exc`` on one line: without terminal colours, the chain of causes
    delta-rs prints one per line, XML error bodies (only their code and message) or secrets."""
    text = _ANSI.sub("", str(exc)).replace("↳", "")
    text = re.sub(r"<\?xml.*?</Error>", _xml_summary, text, flags=re.DOTALL)
    parts = [line.strip() for line in text.splitlines() if line.strip()]
    text = ": ".join(parts) or type(exc).__name__
    return redact(text if len(text) <= 500 else text[:497] + "...")


def redact(text: str) -> str:
    """``text`` with the value of every credential variable of the environment replaced."""
    for name in _SECRET_VARIABLES:
        value = os.environ.get(name)
        if value and len(value) >= 4:
            text = text.replace(value, f"<{name}>")
    return text


def _xml_summary(match: re.Match[str]) -> str:
    fields = dict(_XML_FIELD.findall(match.group(0)))
    return " ".join(v for v in (fields.get("Code"), fields.get("Message")) if v)
