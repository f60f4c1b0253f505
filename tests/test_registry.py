"""Providers: missing extras name the pip install; a fifth store is one registered class."""

from __future__ import annotations

import sys

import pytest

import unifs
from unifs import registry
from unifs.providers.base import Provider
from unifs.uri import StorageURI


@pytest.mark.parametrize(
    ("uri", "module", "extra"),
    [
        ("s3://b12/k", "s3fs", "s3"),
        ("gs://b12/k", "gcsfs", "gcs"),
        ("az://c12/k", "adlfs", "azure"),
        ("oci://b@ns/k", "aiohttp", "oci"),
    ],
)
def test_missing_backend_names_the_extra(monkeypatch, uri, module, extra):
    # None in sys.modules is Python's own spelling of "this module cannot be imported"
    monkeypatch.setitem(sys.modules, module, None)
    with pytest.raises(unifs.MissingDependencyError) as info:
        unifs.url_to_fs(uri)
    assert f"pip install 'unifs[{extra}]'" in str(info.value)
    assert isinstance(info.value, ImportError)


class WidgetProvider(Provider):
    """A made-up fifth store, written only against the public Provider contract."""

    name = "widget"
    schemes = ("widget",)
    fsspec_protocol = "memory"

    def parse(self, text: str, *, account: str | None = None) -> StorageURI:
        bucket, _, key = text.partition("://")[2].partition("/")
        return StorageURI(provider=self.name, bucket=self.check_bucket(bucket, text), key=key)

    def _format_fsspec(self, uri: StorageURI) -> str:
        return f"widget://{uri.bucket}/{uri.key}"

    def fs_path(self, uri: StorageURI) -> str:
        return f"/{uri.bucket}/{uri.key}"


def test_a_fifth_store_is_one_registered_class():
    registry.register_provider("widget", f"{__name__}:WidgetProvider")
    try:
        u = unifs.parse("widget://box/a/b")
        assert (u.provider, u.bucket, u.key, u.url) == ("widget", "box", "a/b", "widget://box/a/b")
        fs, path = unifs.url_to_fs("widget://box/a/b")
        fs.pipe_file(path, b"w")
        assert fs.cat_file("/box/a/b") == b"w"
        assert "widget" in registry.schemes()
    finally:
        registry._known.pop("widget")
        registry._loaded.pop("widget", None)
        registry._scheme_table.cache_clear()
    with pytest.raises(unifs.URIError, match="unknown scheme"):
        unifs.parse("widget://box/a")


def test_registering_over_a_provider_needs_clobber():
    with pytest.raises(ValueError, match="clobber=True"):
        registry.register_provider("s3", "somewhere:Else")
    assert registry.known_providers["s3"] == "unifs.providers.s3:S3Provider"
    with pytest.raises(TypeError):
        registry.known_providers["s3"] = "x"  # type: ignore[index]
