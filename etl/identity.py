"""Account names -> directory UPNs.

`DOMAIN\\name`, `name@domain`, bare sAMAccountNames and case variants all resolve to the UPN
the directory (reference/users.csv|parquet) holds. Unknown accounts stay as seen, lower-cased.
System and service accounts are not users: they resolve to null.
"""
from __future__ import annotations

import io
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv
import pyarrow.parquet as pq

from etl.normalize import map_unique
from etl.storage import Lake, reference_users_candidates, sha256_hex

SYSTEM_ACCOUNTS = frozenset({
    "system", "local service", "localservice", "network service", "networkservice",
    "root", "nt authority", "anonymous logon", "localsystem", "_system", "daemon", "nobody",
    "trustedinstaller", "font driver host", "window manager",
})
SYSTEM_PREFIXES = ("dwm-", "umfd-", "_")
DIRECTORY_COLUMNS = ["upn", "display_name", "department"]


def account_key(raw: str | None) -> str | None:
    """Lower-cased account without its NetBIOS domain; None for blanks and system accounts."""
    if raw is None:
        return None
    text = raw.strip().lower()
    if text in ("", "-", "null", "none", "n/a"):
        return None
    name = text.split("\\", 1)[1] if "\\" in text else text
    name = name.strip()
    if (not name or name in SYSTEM_ACCOUNTS or name.endswith("$")
            or name.startswith(SYSTEM_PREFIXES) or text.startswith("nt authority\\")):
        return None
    return name


@dataclass
class Directory:
    """Lookup from every name a person goes by to their UPN."""
    users: pa.Table
    aliases: dict[str, str] = field(default_factory=dict)
    _resolved: dict = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_table(cls, users: pa.Table) -> "Directory":
        aliases: dict[str, str] = {}
        local_parts: dict[str, set[str]] = {}
        upns = users.column("upn").to_pylist()
        sams = users.column("sam_account_name").to_pylist() if "sam_account_name" in users.column_names else [None] * len(upns)
        for upn, sam in zip(upns, sams):
            if not upn:
                continue
            upn_l = upn.strip().lower()
            aliases[upn_l] = upn_l
            local_parts.setdefault(upn_l.split("@", 1)[0], set()).add(upn_l)
            if sam:
                aliases.setdefault(sam.strip().lower(), upn_l)
        for local, owners in local_parts.items():
            if len(owners) == 1:
                aliases.setdefault(local, next(iter(owners)))
        return cls(users, aliases)

    @classmethod
    def empty(cls) -> "Directory":
        return cls(pa.table({c: pa.array([], pa.string()) for c in DIRECTORY_COLUMNS}), {})

    def resolve(self, raw: str | None) -> str | None:
        if raw in self._resolved:  # every batch of a day repeats the same accounts
            return self._resolved[raw]
        self._resolved[raw] = user = self._resolve(raw)
        return user

    def _resolve(self, raw: str | None) -> str | None:
        key = account_key(raw)
        if key is None:
            return None
        return self.aliases.get(key, key)

    def resolve_array(self, raw) -> pa.ChunkedArray:
        return map_unique(raw, self.resolve, pa.string())

    def attributes(self) -> pa.Table:
        """upn (lower-cased), display_name, department for joining onto reports."""
        table = self.users
        cols = {
            "user": pc.utf8_lower(pc.utf8_trim_whitespace(table.column("upn").cast(pa.string()))),
            "display_name": table.column("display_name").cast(pa.string()) if "display_name" in table.column_names else pa.nulls(table.num_rows, pa.string()),
            "department": table.column("department").cast(pa.string()) if "department" in table.column_names else pa.nulls(table.num_rows, pa.string()),
        }
        out = pa.table(cols)
        return out.group_by("user", use_threads=False).aggregate([("display_name", "first"), ("department", "first")]).rename_columns(
            ["user", "display_name", "department"])


def load_directory(lake: Lake) -> tuple[Directory, dict | None]:
    """The users directory from the lake (parquet preferred) and its input record, or an empty one."""
    for rel in reference_users_candidates():
        if not lake.exists(rel):
            continue
        data = lake.read_bytes(rel)
        if rel.endswith(".parquet"):
            table = pq.read_table(io.BytesIO(data))
        else:
            table = pcsv.read_csv(io.BytesIO(data), convert_options=pcsv.ConvertOptions(
                column_types={"upn": pa.string(), "sam_account_name": pa.string()}))
        if "upn" not in table.column_names:
            raise ValueError(f"{rel}: the users directory needs a 'upn' column (has {table.column_names})")
        return Directory.from_table(table), {"path": rel, "size": len(data), "sha256": sha256_hex(data), "role": "reference"}
    return Directory.empty(), None
