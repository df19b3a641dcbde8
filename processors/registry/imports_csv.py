"""A registry CSV: one row per credential, as a spreadsheet of customers keeps it.

    organisation,consumer,application,plan,key,tags,created
    Acme Corp,acme-mobile,acme-ios,pro,<clear key>,mobile;eu,2024-03-01

Only `consumer` is required (the header names the columns, in any order). Each value is both
the id and the display name of what it names. `plan` is a plan id (plans themselves come from
a YAML file or the HTTP API); `tags` are ";"-separated; `created` (YYYY-MM-DD), `tags`,
`organisation` and `plan` describe the consumer, so every row of a consumer gives the same
ones. `key` is the clear credential, hashed at import ("sha:<hex>": already keyed); a row
without one registers the consumer alone (known by its gateway name).
"""

from __future__ import annotations

import csv
import io
from typing import Any

from processors.registry.imports_common import (
    Hasher,
    RegistryFileError,
    file_error,
    keyed_hash,
)
from processors.registry.model import (
    Application,
    Change,
    Consumer,
    Credential,
    EntityError,
    Organisation,
    change_of,
    entity_of,
)

COLUMNS = ("organisation", "consumer", "application", "plan", "key", "tags", "created")
_CONSUMER_COLUMNS = ("organisation", "plan", "tags", "created")
_FIELD_COLUMNS = {
    "organisation_id": "organisation",
    "plan_id": "plan",
    "tags": "tags",
    "created": "created",
    "hash": "key",
}


class _Rows:
    """The entities of the rows read so far, with the line that first gave each."""

    def __init__(self, name: str, hasher: Hasher) -> None:
        self.name = name
        self.hasher = hasher
        self.organisations: dict[str, Organisation] = {}
        self.consumers: dict[str, tuple[Consumer, dict[str, str], int]] = {}
        self.applications: dict[str, tuple[Application, int]] = {}
        self.credentials: dict[str, tuple[Credential, int]] = {}

    def add(self, row: dict[str, str], line: int) -> None:
        consumer_id = row["consumer"]
        if not consumer_id:
            raise self._error(line, "consumer", "empty: every row names its consumer")
        self._consumer(consumer_id, row, line)
        if row["organisation"] and row["organisation"] not in self.organisations:
            org = row["organisation"]
            self.organisations[org] = Organisation(id=org, name=org)
        app_id = row["application"]
        if app_id:
            self._application(app_id, consumer_id, line)
        if row["key"]:
            self._credential(row["key"], consumer_id, app_id, line)

    def changes(self) -> list[Change]:
        entities = [
            *self.organisations.values(),
            *(consumer for consumer, _, _ in self.consumers.values()),
            *(app for app, _ in self.applications.values()),
            *(credential for credential, _ in self.credentials.values()),
        ]
        return [change_of(entity) for entity in entities]

    def _consumer(self, consumer_id: str, row: dict[str, str], line: int) -> None:
        said = {column: row[column] for column in _CONSUMER_COLUMNS}
        if consumer_id in self.consumers:
            _, first, first_line = self.consumers[consumer_id]
            for column in _CONSUMER_COLUMNS:
                if said[column] != first[column]:
                    message = (
                        f"consumer {consumer_id!r} has {first[column]!r} on line {first_line}: "
                        f"give every row of a consumer the same {', '.join(_CONSUMER_COLUMNS)}"
                    )
                    raise self._error(line, column, message)
            return
        fields = {
            "id": consumer_id,
            "name": consumer_id,
            "organisation_id": said["organisation"],
            "plan_id": said["plan"],
            "tags": [tag.strip() for tag in said["tags"].split(";") if tag.strip()],
        }
        if said["created"]:
            fields["created"] = said["created"]
        consumer = self._entity("consumer", fields, line)
        self.consumers[consumer_id] = (consumer, said, line)

    def _application(self, app_id: str, consumer_id: str, line: int) -> None:
        if app_id in self.applications:
            app, first_line = self.applications[app_id]
            if app.consumer_id != consumer_id:
                message = (
                    f"application {app_id!r} belongs to consumer {app.consumer_id!r} on line "
                    f"{first_line}: an application has one consumer"
                )
                raise self._error(line, "application", message)
            return
        fields = {"id": app_id, "name": app_id, "consumer_id": consumer_id}
        self.applications[app_id] = (self._entity("application", fields, line), line)

    def _credential(self, key: str, consumer_id: str, app_id: str, line: int) -> None:
        try:
            digest = keyed_hash(key, self.hasher)
        except ValueError as exc:
            raise self._error(line, "key", str(exc)) from None
        if digest in self.credentials:
            first_line = self.credentials[digest][1]
            raise self._error(line, "key", f"the same key is on line {first_line}: keep one")
        fields = {"hash": digest, "consumer_id": consumer_id, "application_id": app_id}
        self.credentials[digest] = (self._entity("credential", fields, line), line)

    def _entity(self, kind: str, fields: dict[str, Any], line: int) -> Any:
        try:
            return entity_of(kind, fields)
        except EntityError as exc:
            top = exc.field.split("[")[0]
            column = _FIELD_COLUMNS.get(top, "consumer" if kind == "consumer" else "application")
            raise self._error(line, column, exc.message) from None

    def _error(self, line: int, column: str, message: str) -> RegistryFileError:
        return file_error(self.name, message, line=line, at=f"column {column}")


def csv_changes(text: str, name: str, hash_credential: Hasher) -> list[Change]:
    """The changes a registry CSV asks for: organisations, consumers, applications, credentials."""
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = [column.strip().lower() for column in next(reader, [])]
        columns = _columns(header, name)
        rows = _Rows(name, hash_credential)
        for cells in reader:
            if not any(cell.strip() for cell in cells):
                continue
            rows.add(_row(cells, columns, name, reader.line_num), reader.line_num)
    except csv.Error as exc:
        raise file_error(name, f"invalid CSV: {exc}", line=reader.line_num) from None
    return rows.changes()


def _columns(header: list[str], name: str) -> list[str]:
    if len(header) == 1 and ";" in header[0]:
        raise file_error(name, "separate the columns with commas, not semicolons", line=1)
    for column in header:
        if column not in COLUMNS:
            known = ", ".join(COLUMNS)
            raise file_error(name, f"unknown column {column!r}: the columns are {known}", line=1)
        if header.count(column) > 1:
            raise file_error(name, f"column {column!r} is given twice: keep one", line=1)
    if "consumer" not in header:
        raise file_error(name, "no consumer column: the header names at least `consumer`", line=1)
    return header


def _row(cells: list[str], columns: list[str], name: str, line: int) -> dict[str, str]:
    if len(cells) > len(columns) and any(cell.strip() for cell in cells[len(columns) :]):
        message = f"{len(cells)} values for {len(columns)} columns: quote values holding commas"
        raise file_error(name, message, line=line)
    row = dict.fromkeys(COLUMNS, "")
    row.update(zip(columns, (cell.strip() for cell in cells), strict=False))
    return row
