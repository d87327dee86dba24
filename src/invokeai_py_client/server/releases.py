"""The InvokeAI releases the local server can install, and what each one's config knows.

Each release has a constraints file in `constraints/`, captured from a venv that
started and ran generations on a CPU-only machine. 6.14.2 installs normally under
its constraints. Older releases declare `torch~=2.7.0`, yet run on the torch we
install for every release; they are installed with `pip install --no-deps
invokeai==X`, then their other requirements under their era's pins.

    >>> release("6.0.2").no_deps
    True
    >>> config_schema_version("5.15.0"), config_schema_version("6.14.2")
    ('4.0.2', '4.0.3')
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from .._capabilities import version_key
from ._common import INVOKEAI_VERSION, ProvisionError

DEFAULT_VERSION = INVOKEAI_VERSION


@dataclass(frozen=True)
class Release:
    """How to install one InvokeAI release."""

    version: str
    no_deps: bool
    """Install invokeai itself with `--no-deps` (its declared torch is not the one we run)."""

    @property
    def constraints_file(self) -> str:
        return f"invokeai-{self.version}-cpu.txt"

    def constraints_path(self) -> Path:
        """The constraints file shipped in this package for this release."""
        return Path(str(resources.files(__package__).joinpath("constraints", self.constraints_file)))


RELEASES: dict[str, Release] = {
    r.version: r
    for r in (
        Release(DEFAULT_VERSION, no_deps=False),
        Release("6.0.2", no_deps=True),
        Release("5.15.0", no_deps=True),
    )
}


def release(version: str) -> Release:
    """The install recipe of `version`; a ProvisionError names the ones we have."""
    try:
        return RELEASES[version]
    except KeyError:
        known = ", ".join(sorted(RELEASES, key=version_key, reverse=True))
        raise ProvisionError(
            "version",
            f"no install recipe for InvokeAI {version}; this package can install {known}",
            "pick one of those, or run your own server and point the client at its URL.",
        ) from None


def at_least(version: str, minimum: str) -> bool:
    return version_key(version) >= version_key(minimum)


def config_schema_version(version: str) -> str:
    """The `schema_version` an `invokeai.yaml` must carry: the server refuses any other."""
    return "4.0.3" if at_least(version, "6.13.0") else "4.0.2"


def knows_http_compression_level(version: str) -> bool:
    """`http_compression_level` arrived after 6.14.0rc2; older servers refuse the key."""
    return at_least(version, "6.14.0")


def knows_multiuser(version: str) -> bool:
    """User accounts (`multiuser`) arrived in 6.12.0."""
    return at_least(version, "6.12.0")


def invokeai_yaml(port: int, *, version: str = DEFAULT_VERSION, multiuser: bool = False) -> str:
    """The `invokeai.yaml` of a CPU-only InvokeAI `version` listening on 127.0.0.1:`port`.

    `multiuser` turns on InvokeAI's user accounts (every API call then needs a token).
    Response compression is off where the server has the switch: InvokeAI 6.14's gzip
    responder answers the web UI's Socket.IO long-polling request (which accepts gzip)
    with HTTP 500 on the starlette its constraints pin, so the UI would never get
    events; on loopback it saves nothing anyway. Older servers refuse keys they do not
    know, so each setting is written only for the versions that have it.
    """
    if multiuser and not knows_multiuser(version):
        raise ProvisionError("config", f"InvokeAI {version} has no multi-user mode (it arrived in 6.12.0)")
    text = (
        "# Written by invokeai-py-client; rewritten on every start.\n"
        f"schema_version: {config_schema_version(version)}\n"
        "host: 127.0.0.1\n"
        f"port: {port}\n"
        "patchmatch: false\n"
        "log_format: plain\n"
        "device: cpu\n"
        "precision: float32\n"
    )
    if knows_http_compression_level(version):
        text += "http_compression_level: 0\n"
    return text + "multiuser: true\n" if multiuser else text
