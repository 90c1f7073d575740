"""What a deploy may ship: the registry's ``champion``, and only if it is this commit's bundle.

A deploy resolves the alias once, to a fixed version number, and then ties three things together:

* the bundle folder is the one ``dvc.lock`` on the deployed commit records (DVC folder hash);
* its manifest is the one the champion version was registered with (``manifest_sha256`` tag);
* the champion still names the version resolved earlier in the same deploy (``expect_version``).

If the promotion of this commit's candidate was refused, the champion is another bundle and the
deploy stops here with the reason. The resolved number goes into the image labels, the Beanstalk
version label and the image environment (``/model``); no instance resolves an alias itself.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from imdb_sentiment.bundle import MANIFEST_NAME
from imdb_sentiment.integrity import (
    BUNDLE_OUT,
    DVC_LOCK,
    PinError,
    check_expected,
    folder_md5,
    locked_md5,
    sha256_file,
)
from imdb_sentiment.registry import (
    BUNDLE_VERSION_TAG,
    CHAMPION_ALIAS,
    MANIFEST_SHA256_TAG,
    RegistryError,
    mlflow_module,
    tracking_uri,
)


class ReleaseError(RegistryError):
    """This commit's bundle is not what the registry says may ship."""


@dataclass(frozen=True)
class Release:
    name: str
    version: str  # the registry version number the alias named at resolution
    bundle_hash: str  # DVC's folder hash, as dvc.lock records it
    bundle_version: str

    def outputs(self) -> str:
        """``key=value`` lines for $GITHUB_OUTPUT."""
        return (
            f"model_version={self.version}\nbundle_hash={self.bundle_hash}\n"
            f"bundle_version={self.bundle_version}\n"
        )


def resolve_release(
    bundle: Path = Path(BUNDLE_OUT),
    lock: Path = DVC_LOCK,
    name: str = "imdb-sentiment",
    alias: str = CHAMPION_ALIAS,
    expect_version: str | None = None,
) -> Release:
    """The version ``alias`` names, if ``bundle`` is both git's and that version's bundle."""
    try:
        pinned = locked_md5(BUNDLE_OUT, lock)
        check_expected(folder_md5(bundle), pinned, f"bundle folder {bundle}")
    except PinError as error:
        raise ReleaseError(str(error)) from error
    mlflow = mlflow_module()
    try:
        version = mlflow.MlflowClient().get_model_version_by_alias(name, alias)
    except Exception as error:  # no alias, unknown model, unreachable server
        raise ReleaseError(
            f"the registry at {tracking_uri()} names no {alias} of {name} ({error}): "
            f"nothing was ever promoted, so nothing may ship"
        ) from error
    number = str(version.version)
    if expect_version is not None and number != str(expect_version):
        raise ReleaseError(
            f"{alias} moved from version {expect_version} to {number} during this deploy; "
            "re-run the deploy to ship what it names now"
        )
    registered = version.tags.get(MANIFEST_SHA256_TAG)
    ours = sha256_file(bundle / MANIFEST_NAME)
    if registered != ours:
        raise ReleaseError(
            f"{alias} is version {number} (bundle {version.tags.get(BUNDLE_VERSION_TAG)}), "
            f"whose manifest sha256 is {registered}, but this commit's bundle has {ours}: its "
            f"promotion was refused or another version was promoted since. Not deploying."
        )
    return Release(name, number, pinned, str(version.tags.get(BUNDLE_VERSION_TAG)))


def write_summary(markdown: str) -> None:
    """Append to the GitHub job summary when running in Actions (no-op elsewhere)."""
    path = os.environ.get("GITHUB_STEP_SUMMARY")
    if path:
        with Path(path).open("a", encoding="utf-8") as summary:
            summary.write(markdown.rstrip() + "\n\n")
