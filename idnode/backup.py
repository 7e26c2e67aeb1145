"""Hot backup of a node's data folder and its verified, atomic restore (``idnode backup`` / ``idnode restore``).

A backup is a folder::

    DEST/
      manifest.json        what it holds and how to check it (below)
      lmdb/data.mdb        a compacted copy of the LMDB environment
      admin.credential     the node-admin credential, when the folder has one   (mode 0600)
      top.credential       the node's credential at the top-level node, if any  (mode 0600)
      demo.token           the demo enterprise's token, if any                  (mode 0600)

**Consistent while the node serves.** The copy is taken inside one LMDB
read transaction of a read-only environment opened beside the running node
(no folder lock, no write transaction): the data, the change-log head, the
identifiers checksum and the copy all come from the same snapshot, however
many writes land meanwhile. The folder is written under a hidden name and
renamed to DEST when complete, so DEST never holds half a backup.

**Credential files are included**: the store keeps only hashes of secrets,
so a node restored without ``top.credential`` could no longer authenticate
to the top-level node (its credential is bound at first registration), and
one without ``admin.credential`` would have no usable node-admin secret.
The backup folder is therefore as secret as the data folder (mode 0700).
Not copied: ``node.lock``, the writer's Unix sockets and LMDB's ``lock.mdb``
(recreated at start).

**manifest.json**: ``format`` (1), ``idnode_version``, ``schema_version``,
``node_prefix``, ``created`` (UTC), ``last_sequence`` and ``last_digest``
(the change-log head), ``identifiers`` and ``checksum`` (what ``idnode
checksum`` prints for the same data), and ``files``: size and SHA-256 of
every file.

**Restore** refuses a target folder that a running node holds (its lock)
and a non-empty one without ``force``; copies the backup into a staging
folder beside the target, checks every file's size and SHA-256, opens it
(applying schema migrations like a start would), checks the node prefix, the
change-log head and the whole digest chain, and recomputes the identifiers
checksum against the manifest. Only then does it replace the target, with
one atomic exchange of the two folders (``renameat2(RENAME_EXCHANGE)``; where
the file system lacks it, two renames, with the old folder kept complete
under a hidden name until the new one is in place), so a crash leaves the
old folder or the new one, never a mix. Nothing is changed when a check
fails. The target must be a folder that can be renamed: when the data
folder is itself a mount point (a Kubernetes volume), give ``--data-dir`` a
folder inside the volume.

Caution: restoring an older backup onto a node that syncs to a top-level
node (``--top``) rewinds its change log below what the top-level node has
acknowledged; rebuild such a node with ``idnode restore-from-top`` instead.
"""

from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import datetime
import errno
import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Any

from idnode import __version__
from idnode.registry import changelog
from idnode.registry.errors import StoreError, StoreLocked
from idnode.registry.store import Store, from_u64, lock_folder

__all__ = ["CREDENTIAL_FILES", "MANIFEST", "BackupError", "Manifest", "backup", "restore", "verify"]

MANIFEST = "manifest.json"
FORMAT = 1
DATA_FILE = "lmdb/data.mdb"
CREDENTIAL_FILES = ("admin.credential", "top.credential", "demo.token")
_CHUNK = 1 << 20
_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


class BackupError(Exception):
    """A backup or restore that cannot be done; nothing was changed."""


@dataclasses.dataclass(frozen=True, slots=True)
class Manifest:
    """What a backup holds (``manifest.json``)."""

    schema_version: int
    node_prefix: str
    created: str
    last_sequence: int
    last_digest: str
    identifiers: int
    checksum: str
    files: dict[str, dict[str, Any]]
    idnode_version: str = __version__
    format: int = FORMAT

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=2, sort_keys=True) + "\n"

    @classmethod
    def read(cls, folder: Path) -> Manifest:
        """The manifest of the backup ``folder``.

        Raises:
            BackupError: missing, not JSON, another format, or fields missing.
        """
        path = folder / MANIFEST
        try:
            document = json.loads(path.read_text())
        except FileNotFoundError:
            raise BackupError(f"{folder} is not an idnode backup: no {MANIFEST}") from None
        except (OSError, ValueError) as exc:
            raise BackupError(f"cannot read {path}: {exc}") from None
        if not isinstance(document, dict) or document.get("format") != FORMAT:
            found = document.get("format") if isinstance(document, dict) else None
            raise BackupError(f"{path}: backup format {found!r}, this idnode reads format {FORMAT}")
        names = {field.name for field in dataclasses.fields(cls)}
        missing = names - set(document)
        if missing:
            raise BackupError(f"{path}: fields missing: {', '.join(sorted(missing))}")
        try:
            manifest = cls(**{k: document[k] for k in names})
            _check_files_field(manifest.files)
        except (TypeError, ValueError) as exc:
            raise BackupError(f"{path}: malformed: {exc}") from None
        return manifest


def _check_files_field(files: Any) -> None:
    if not isinstance(files, dict) or DATA_FILE not in files:
        raise ValueError(f"files must name {DATA_FILE}")
    for name, info in files.items():
        if name != DATA_FILE and name not in CREDENTIAL_FILES:
            raise ValueError(f"unexpected file {name!r}")  # never write outside the folder
        if (
            not isinstance(info, dict)
            or not isinstance(info.get("size"), int)
            or not isinstance(info.get("sha256"), str)
        ):
            raise ValueError(f"file {name!r} needs size and sha256")


# -- backup ------------------------------------------------------------------------------


def _head(store: Store, txn: Any) -> tuple[int, str]:
    """The change log's head as the manifest writes it (``changelog.head``: an empty log continues from the
    pruned marker)."""
    sequence, last = changelog.head(store, txn)
    return sequence, last.hex()


def _file_info(path: Path) -> dict[str, Any]:
    sha = hashlib.sha256()
    size = 0
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            sha.update(chunk)
            size += len(chunk)
    return {"size": size, "sha256": sha.hexdigest()}


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_tree(folder: Path) -> None:
    for path in sorted(folder.rglob("*"), reverse=True):
        _fsync(path)
    _fsync(folder)


def _staging(target: Path, kind: str) -> Path:
    return target.parent / f".{target.name}.{kind}-{os.getpid()}"


def _is_empty_dir(path: Path) -> bool:
    return path.is_dir() and not any(path.iterdir())


def backup(data_dir: Path, dest: Path) -> Manifest:
    """Write a consistent copy of ``data_dir`` (a node may be serving it) to the new folder ``dest``.

    Raises:
        BackupError: ``data_dir`` holds no idnode data, ``dest`` exists and is
            not an empty folder, or the copy fails (then nothing is left behind).
    """
    data_dir, dest = Path(data_dir), Path(dest)
    if not (data_dir / "lmdb" / "data.mdb").exists():
        raise BackupError(f"{data_dir} holds no idnode data")
    if dest.exists() and not _is_empty_dir(dest):
        raise BackupError(f"{dest} exists and is not an empty folder")
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = _staging(dest, "partial")
    shutil.rmtree(staging, ignore_errors=True)
    try:
        (staging / "lmdb").mkdir(mode=0o700, parents=True)
        staging.chmod(0o700)
        try:
            store = Store(data_dir, map_size=1 << 20, lock=False, writable=False)
        except StoreError as exc:
            raise BackupError(str(exc)) from None
        try:
            with store.begin() as txn:  # one snapshot for the copy and everything the manifest says of it
                last_sequence, last_digest = _head(store, txn)
                count, checksum = store.identifiers_digest(txn)
                node_prefix = bytes(txn.get(b"node_prefix", db=store.dbs["meta"]) or b"").decode()
                schema = int(bytes(txn.get(b"schema_version", db=store.dbs["meta"]) or b"0"))
                store.env.copy(str(staging / "lmdb"), compact=True, txn=txn)
        finally:
            store.close()
        (staging / DATA_FILE).chmod(0o600)
        for name in CREDENTIAL_FILES:
            with contextlib.suppress(FileNotFoundError):
                shutil.copyfile(data_dir / name, staging / name)
                (staging / name).chmod(0o600)
        files = {
            str(path.relative_to(staging)): _file_info(path)
            for path in sorted(staging.rglob("*"))
            if path.is_file() and path.name != "lock.mdb"
        }
        manifest = Manifest(
            schema_version=schema,
            node_prefix=node_prefix,
            created=datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            last_sequence=last_sequence,
            last_digest=last_digest,
            identifiers=count,
            checksum=checksum,
            files=files,
        )
        (staging / MANIFEST).write_text(manifest.to_json())
        (staging / MANIFEST).chmod(0o600)
        _fsync_tree(staging)
        if dest.exists():
            dest.rmdir()  # empty, checked above
        os.rename(staging, dest)
        _fsync(dest.parent)
        return manifest
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


# -- verify and restore -----------------------------------------------------------------------


def verify(folder: Path, manifest: Manifest) -> None:
    """Check the backup (or a copy of one) in ``folder`` against ``manifest``.

    Every file's size and SHA-256; then, opening its LMDB environment
    (migrating an older schema, as a start would): the node prefix, the
    change-log head, the digest chain of the whole log, and the identifiers
    checksum. The environment is opened for writing, so check a copy, not
    the backup itself.

    Raises:
        BackupError: naming the first check that fails.
    """
    for name, expected in manifest.files.items():
        try:
            found = _file_info(folder / name)
        except OSError as exc:
            raise BackupError(f"backup file {name}: {exc.strerror or exc}") from None
        if found != {"size": expected["size"], "sha256": expected["sha256"]}:
            raise BackupError(f"backup file {name} does not match the manifest (size or SHA-256 differs): damaged")
    try:
        store = Store(folder, map_size=max(1 << 20, manifest.files[DATA_FILE]["size"]), lock=False)
    except StoreError as exc:
        raise BackupError(f"the backup's LMDB cannot be opened: {exc}") from None
    try:
        with store.begin() as txn:
            node_prefix = bytes(txn.get(b"node_prefix", db=store.dbs["meta"]) or b"").decode()
            if node_prefix != manifest.node_prefix:
                raise BackupError(f"node prefix {node_prefix!r} differs from the manifest's {manifest.node_prefix!r}")
            head = _head(store, txn)
            if head != (manifest.last_sequence, manifest.last_digest):
                raise BackupError(
                    f"change-log head {head[0]} differs from the manifest's {manifest.last_sequence} (or its digest)"
                )
            entries = ((from_u64(k), bytes(v)) for k, v in txn.cursor(db=store.dbs["changelog"]))
            try:
                changelog.verify_chain(entries)
            except changelog.ChangeLogError as exc:
                raise BackupError(f"the backup's change log does not verify: {exc}") from None
            count, checksum = store.identifiers_digest(txn)
        if (count, checksum) != (manifest.identifiers, manifest.checksum):
            raise BackupError(
                f"identifiers checksum {checksum} ({count}) differs from the manifest's "
                f"{manifest.checksum} ({manifest.identifiers})"
            )
    finally:
        store.close()


def _exchange(a: Path, b: Path) -> bool:
    """Swap two folders atomically (Linux renameat2 RENAME_EXCHANGE); False where that is not available."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    renameat2.argtypes = (ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint)
    if renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP):
        return False
    raise OSError(code, f"cannot exchange {a} and {b}: {os.strerror(code)}")


def _replace(staging: Path, target: Path) -> None:
    """Put the complete folder ``staging`` in the place of ``target``: the old folder or the new, never a mix."""
    if not target.exists():
        os.rename(staging, target)
    elif _exchange(staging, target):
        shutil.rmtree(staging)  # the old folder, now under the staging name
    else:
        old = _staging(target, "old")
        os.rename(target, old)  # a crash here leaves the old folder complete under .NAME.old-PID
        os.rename(staging, target)
        shutil.rmtree(old)
    _fsync(target.parent)


def restore(src: Path, data_dir: Path, force: bool = False) -> Manifest:
    """Replace ``data_dir`` with the verified backup ``src``.

    Raises:
        BackupError: ``src`` is not a valid backup or fails a check, ``data_dir``
            is in use by a running node, or it is not empty and ``force`` is
            False. Nothing is changed then.
    """
    src, data_dir = Path(src), Path(data_dir)
    manifest = Manifest.read(src)
    lock_fd = None
    made_lock = False
    if data_dir.exists():
        if not data_dir.is_dir():
            raise BackupError(f"{data_dir} is not a folder")
        busy = [p.name for p in data_dir.iterdir() if p.name != "node.lock"]
        made_lock = not (data_dir / "node.lock").exists()
        try:
            lock_fd = lock_folder(data_dir)  # held until the swap is done: no node starts on it meanwhile
        except StoreLocked as exc:
            raise BackupError(f"{exc}: stop the node before restoring") from None
        if busy and not force:
            _unlock(data_dir, lock_fd, made_lock)
            raise BackupError(f"{data_dir} is not empty ({len(busy)} entries); --force replaces it")
    staging = _staging(data_dir, "restore")
    shutil.rmtree(staging, ignore_errors=True)
    try:
        data_dir.parent.mkdir(parents=True, exist_ok=True)
        (staging / "lmdb").mkdir(mode=0o700, parents=True)
        staging.chmod(0o700)
        for name in manifest.files:
            shutil.copyfile(src / name, staging / name)
            (staging / name).chmod(0o600)
        verify(staging, manifest)
        (staging / "lmdb" / "lock.mdb").unlink(missing_ok=True)
        _fsync_tree(staging)
        _replace(staging, data_dir)
        made_lock = False  # the folder it was made in is gone
        return manifest
    except FileNotFoundError as exc:
        raise BackupError(f"backup file missing: {exc.filename}") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        if lock_fd is not None:
            _unlock(data_dir, lock_fd, made_lock)


def _unlock(data_dir: Path, lock_fd: int, made: bool) -> None:
    """Release the folder lock; remove ``node.lock`` when this restore created it (a refusal changes nothing)."""
    if made:
        (data_dir / "node.lock").unlink(missing_ok=True)
    os.close(lock_fd)
