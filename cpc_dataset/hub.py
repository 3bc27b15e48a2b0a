"""Pushing folders to the Hugging Face Hub and resolving repo ids back to folders; the dataset's push.

The generic part (``push_folder``, ``resolve_repo``, ``hub_errors``) lives here, in the lowest layer, so that
``cpc_models.hub`` (models) and ``spaces.publish`` (the Space) use the same token handling and error messages.

- The endpoint is ``HF_ENDPOINT`` and the token ``HF_TOKEN`` or the stored login (``hf auth login``), both read
  by ``huggingface_hub`` itself; the token is never printed or logged here.
- ``upload_folder`` asks the Hub for the stored oid of every file and leaves unchanged files out, so pushing an
  unchanged folder makes no commit; LFS objects already stored are not sent again, so a push that was cut off
  completes when it is run again.
- Every Hub or network failure becomes one ``HubError`` line (bad token, someone else's repo, unknown repo,
  network failure) for the CLI to print.
"""

from __future__ import annotations

import logging
import re
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from cpc_dataset.errors import CpcError, InputError

log = logging.getLogger(__name__)

REPO_TYPES = ("dataset", "model", "space")
REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[A-Za-z0-9][\w.-]*$")
# What a dataset repo needs: the parquet splits, the card, the vocabulary and the card's plots.
ALWAYS_IGNORE = [".git/*", "*/.git/*", ".cache/*", "*__pycache__*", "*.pyc", ".DS_Store", "*/.DS_Store"]
DATASET_ALLOW = ["README.md", "labels.json", "build_config.json", "build_stats.json", "*.png", "data/*.parquet"]


class HubError(CpcError):
    """The Hub refused or could not be reached; the message says what to do."""

    prefix = "Hub"


@dataclass
class PushResult:
    repo_id: str
    repo_type: str
    revision: str
    commit: str  # the head after the push
    url: str
    changed: bool  # False: the Hub already had these files, no commit was made


def is_repo_id(value: str | Path) -> bool:
    """``owner/name`` that is not an existing local path."""
    text = str(value)
    return bool(REPO_ID.match(text)) and not Path(text).exists()


def check_repo_id(repo_id: str) -> str:
    if not REPO_ID.match(repo_id or ""):
        raise InputError(f"--repo-id must look like OWNER/NAME, not {repo_id!r}")
    return repo_id


@contextmanager
def hub_errors(repo_id: str, repo_type: str, action: str) -> Iterator[None]:
    """Turn ``huggingface_hub`` / network exceptions into one-line ``HubError``s (no token in any of them)."""
    from huggingface_hub import constants
    from huggingface_hub.errors import (
        EntryNotFoundError,
        GatedRepoError,
        HfHubHTTPError,
        LocalEntryNotFoundError,
        OfflineModeIsEnabled,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    endpoint = constants.ENDPOINT
    what = f"{repo_type} repo {repo_id}"
    try:
        yield
    except CpcError:
        raise
    except OfflineModeIsEnabled:
        raise HubError(f"cannot {action} {what}: HF_HUB_OFFLINE=1 is set and it is not in the local cache") from None
    except LocalEntryNotFoundError:
        raise HubError(
            f"cannot {action} {what}: the Hub ({endpoint}) cannot be reached and it is not in the local cache"
        ) from None
    except (RevisionNotFoundError, EntryNotFoundError) as exc:
        raise HubError(f"cannot {action} {what}: {_server_message(exc) or 'revision or file not found'}") from None
    except GatedRepoError:
        raise HubError(f"cannot {action} {what}: the repo is gated; request access on the Hub first") from None
    except (RepositoryNotFoundError, HfHubHTTPError) as exc:
        status = getattr(getattr(exc, "response", None), "status_code", None)
        message = _server_message(exc)
        if status == 401:
            from huggingface_hub import get_token

            problem = "the token was refused" if get_token() else "no token is set"
            raise HubError(
                f"cannot {action} {what}: {problem} (HTTP 401); set HF_TOKEN to a valid token "
                "with write access, or run `hf auth login`"
            ) from None
        if status == 403:
            why = (
                "it belongs to someone else, or the token is read-only"
                if action.startswith("push")
                else "access was refused"
            )
            raise HubError(
                f"cannot {action} {what}: the token has no {'write ' if action.startswith('push') else ''}access "
                f"to it (HTTP 403); {why}"
            ) from None
        if status == 404 or isinstance(exc, RepositoryNotFoundError):
            raise HubError(
                f"cannot {action} {what}: no such repo on {endpoint} (or it is private and the token cannot see it)"
            ) from None
        raise HubError(f"cannot {action} {what}: {endpoint} answered HTTP {status}: {message or 'error'}") from None
    except Exception as exc:  # noqa: BLE001 - network failures come from httpx, httpx2 or the OS
        if _is_network_error(exc):
            raise HubError(
                f"cannot {action} {what}: network failure talking to {endpoint} ({type(exc).__name__}); "
                "run the same command again to resume: files already uploaded are not sent twice"
            ) from None
        raise


def _is_network_error(exc: BaseException) -> bool:
    for e in (exc, exc.__cause__, exc.__context__):
        if e is None:
            continue
        if isinstance(e, (ConnectionError, TimeoutError)):
            return True
        module = type(e).__module__ or ""
        if module.split(".")[0] in ("httpx", "httpx2", "httpcore", "h11", "urllib3", "requests"):
            return True
    return False


def _server_message(exc: BaseException) -> str:
    response = getattr(exc, "response", None)
    if response is None:
        return ""
    try:
        return str(response.headers.get("X-Error-Message") or response.json().get("error") or "")[:200]
    except Exception:  # noqa: BLE001 - not JSON
        return ""


def push_folder(
    folder: str | Path,
    repo_id: str,
    repo_type: str,
    *,
    what: str,
    private: bool = False,
    revision: str | None = None,
    allow_patterns: list[str] | None = None,
    ignore_patterns: list[str] | None = None,
    replace: dict[str, bytes] | None = None,
    space_sdk: str | None = None,
) -> PushResult:
    """Create ``repo_id`` if needed and commit ``folder`` to it, with a message naming ``what`` was pushed.

    ``allow_patterns`` / ``ignore_patterns`` (fnmatch, as ``upload_folder``) choose the files; ``replace`` gives
    files (path in the repo -> bytes) that are uploaded instead of, or besides, the folder's. Files the Hub already
    has unchanged are left out of the commit, and no commit at all is made when nothing changed.
    """
    from huggingface_hub import CommitOperationAdd, HfApi

    folder = Path(folder)
    check_repo_id(repo_id)
    if repo_type not in REPO_TYPES:
        raise InputError(f"unknown repo type {repo_type!r}; choose one of {', '.join(REPO_TYPES)}")
    if not folder.is_dir():
        raise InputError(f"{folder} is not a folder")
    operations = {
        path: CommitOperationAdd(path, file)
        for path, file in chosen_files(folder, allow_patterns, ignore_patterns).items()
    }
    operations.update({path: CommitOperationAdd(path, data) for path, data in (replace or {}).items()})
    if not operations:
        raise InputError(f"{folder} has no file to push")
    api = HfApi()
    branch = revision or "main"
    with hub_errors(repo_id, repo_type, "push to"):
        url = api.create_repo(repo_id, repo_type=repo_type, private=private, exist_ok=True, space_sdk=space_sdk)
        before = _head(api, repo_id, repo_type, branch)
        if revision and before is None:
            api.create_branch(repo_id, repo_type=repo_type, branch=revision, exist_ok=True)
        info = api.create_commit(
            repo_id=repo_id,
            repo_type=repo_type,
            revision=revision,
            operations=list(operations.values()),
            commit_message=f"Upload {what} ({len(operations)} files, cpc push {repo_type})",
            commit_description=f"Pushed from {folder.name}/ by `cpc push {repo_type}` (patent-cpc): {what}.",
        )
    changed = info.oid != before
    log.info(
        "%s %s@%s: %s", repo_type, repo_id, branch, f"commit {info.oid}" if changed else "unchanged, no new commit"
    )
    return PushResult(repo_id, repo_type, branch, info.oid, str(url), changed)


def chosen_files(
    folder: Path, allow_patterns: list[str] | None = None, ignore_patterns: list[str] | None = None
) -> dict[str, Path]:
    """The folder's files (path in the repo -> file) that a push sends, by ``upload_folder``'s pattern rules."""
    from huggingface_hub.utils import filter_repo_objects

    files = {p.relative_to(folder).as_posix(): p for p in sorted(Path(folder).rglob("*")) if p.is_file()}
    chosen = filter_repo_objects(
        files, allow_patterns=allow_patterns, ignore_patterns=[*ALWAYS_IGNORE, *(ignore_patterns or [])]
    )
    return {path: files[path] for path in chosen}


def _head(api, repo_id: str, repo_type: str, branch: str) -> str | None:
    """The branch's head commit, None for a new repo or a branch that does not exist yet."""
    from huggingface_hub.errors import RevisionNotFoundError

    try:
        return api.repo_info(repo_id, repo_type=repo_type, revision=branch).sha
    except RevisionNotFoundError:
        return None


def resolve_repo(
    path_or_repo_id: str | Path, repo_type: str, revision: str | None = None, allow_patterns: list[str] | None = None
) -> Path:
    """A local folder as is; otherwise ``owner/name`` downloaded (or taken from the cache) with ``snapshot_download``.

    Hub semantics: ``revision`` (branch, tag or commit), the local cache, ``HF_HUB_OFFLINE=1`` (cache only).
    """
    path = Path(path_or_repo_id)
    if path.is_dir():
        if revision:
            log.warning("%s is a local folder: revision %s is ignored", path, revision)
        return path
    if not is_repo_id(path_or_repo_id):
        raise InputError(
            f"{repo_type} folder {path_or_repo_id} does not exist (and it is not a Hub repo id OWNER/NAME)"
        )
    from huggingface_hub import snapshot_download

    with hub_errors(str(path_or_repo_id), repo_type, "download"):
        return Path(
            snapshot_download(
                str(path_or_repo_id), repo_type=repo_type, revision=revision, allow_patterns=allow_patterns
            )
        )


def push_dataset(folder: str | Path, repo_id: str, private: bool = False, revision: str | None = None) -> PushResult:
    """Push a dataset folder made by ``cpc data build``: card, parquet splits, labels, plots."""
    folder = Path(folder)
    if not (folder / "README.md").exists() or not list(folder.glob("data/*.parquet")):
        raise InputError(f"{folder} is not a dataset folder (README.md and data/*.parquet, from `cpc data build`)")
    splits = sorted({p.name.split("-")[0] for p in folder.glob("data/*.parquet")})
    return push_folder(
        folder,
        repo_id,
        "dataset",
        what=f"dataset card and parquet splits ({', '.join(splits)})",
        private=private,
        revision=revision,
        allow_patterns=DATASET_ALLOW,
    )


def resolve_dataset(path_or_repo_id: str | Path, revision: str | None = None) -> Path:
    """A dataset folder, or a Hub dataset repo id downloaded to the cache."""
    return resolve_repo(path_or_repo_id, "dataset", revision)
