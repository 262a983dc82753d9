"""Write a working skeleton of a new service: ``python scripts/new_service.py NAME``.

The skeleton is small (one module each) and complete: one aggregate, ``Note``, written by
``CreateNote`` (one unit of work that raises ``NoteCreated`` through the outbox, with an idempotency key)
and read by ``GetNote``, both with an HTTP binding for the gateway; and one idempotent consumer of its
own ``NoteCreated`` that records on the note when it saw it (``seen_time``). It writes and edits, in the
order of docs/adding-a-service.md:

- ``proto/toko/NAME/v1/NAME.proto`` and ``events.proto``, then the generated code (scripts/protogen.py);
- ``src/toko/services/NAME/``: domain, handlers, repository, grpc_api, mapping, error_codes,
  consumers, settings (prefix ``TOKO_NAME_``), bootstrap, ``__main__``, and an Alembic migration;
- ``tests/unit/NAME/`` and ``tests/integration/NAME/`` (the conftest and testkit pattern of the others);
- the registry (``src/toko/infra/services.py``, on the next free port), both import contracts of
  ``pyproject.toml``, ``deploy/kubernetes/`` and the README's service map.

The result passes ruff, mypy --strict, lint-imports, buf lint, the architecture test and its own tests,
and starts under ``make up``. A NAME that is not a lowercase identifier, is a Python keyword, or is
taken is refused in one line, before anything is written.
"""

from __future__ import annotations

import json
import keyword
import re
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from string import Template

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
NAME_PATTERN = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)*$")
MAX_NAME_LENGTH = 30  # it becomes a database, a stream, DNS labels and environment variable names
FIRST_SERVICE_PORT = 50060
K8S_GRPC_PORT = 50051
REGISTRY = "src/toko/infra/services.py"
K8S_MANIFESTS_FILE = "deploy/kubernetes/services.yaml"
K8S_CONFIG = "deploy/kubernetes/config.yaml"
GATEWAY_ENTRY = '    ServiceSpec("gateway",'
INDEPENDENCE = "Services never import one another"
PURE_DOMAIN = "Domain code is pure"
UPSTREAMS_KEY = "  TOKO_GATEWAY_UPSTREAMS: |"
SERVICE_MAP_ANCHOR = "| PostgreSQL 18 |"


class Refused(Exception):
    """The name cannot be used; the message says why in one line."""


@dataclass(frozen=True)
class Names:
    """Every spelling of the service's name the files need."""

    name: str  # flash_sale
    port: int

    @property
    def camel(self) -> str:
        """FlashSale."""
        return "".join(part.capitalize() for part in self.name.split("_"))

    @property
    def upper(self) -> str:
        """FLASH_SALE."""
        return self.name.upper()

    @property
    def dns(self) -> str:
        """flash-sale: Kubernetes names are DNS labels."""
        return self.name.replace("_", "-")

    def substitutions(self) -> dict[str, str]:
        """For the templates: ${name}, ${Name}, ${NAME}, ${dns}, ${port}, ${date}."""
        return {
            "name": self.name,
            "Name": self.camel,
            "NAME": self.upper,
            "dns": self.dns,
            "port": str(self.port),
            "date": datetime.now(UTC).date().isoformat(),
        }


# --- checks -------------------------------------------------------------------------------------------------


def registered() -> list[tuple[str, list[int]]]:
    """Name and ports of every service in the registry, read from this checkout."""
    sys.path.insert(0, str(ROOT / "src"))
    from toko.infra.services import SERVICES

    return [(spec.name, [port for port in (spec.port, spec.http_port) if port]) for spec in SERVICES]


def check_name(name: str, services: list[tuple[str, list[int]]]) -> None:
    """Raise ``Refused`` unless ``name`` can be a new service."""
    if not NAME_PATTERN.match(name):
        raise Refused(f"{name!r} is not a lowercase identifier (a-z and 0-9, words joined by single _)")
    if keyword.iskeyword(name):
        raise Refused(f"{name!r} is a Python keyword")
    if len(name) > MAX_NAME_LENGTH:
        raise Refused(f"{name!r} is longer than {MAX_NAME_LENGTH} characters")
    if name in {service for service, _ in services}:
        raise Refused(f"{name!r} is already a service in {REGISTRY}")
    # The generated contracts become the package toko.NAME, beside toko.platform, toko.cli and the others.
    places = ("src/toko/services/{}", "src/toko/{}", "src/toko/{}.py", "proto/toko/{}")
    for taken in (place.format(name) for place in places):
        if (ROOT / taken).exists():
            raise Refused(f"{name!r} is taken: {taken} exists")


def next_port(services: list[tuple[str, list[int]]]) -> int:
    """The port after the highest of the registry's service ports."""
    ports = [port for _, ports in services for port in ports if port >= FIRST_SERVICE_PORT]
    return max(ports, default=FIRST_SERVICE_PORT - 1) + 1


# --- edits of shared files: each takes the file's text and returns it changed, or raises Refused -----------


def _find(text: str, anchor: str, where: str, start: int = 0) -> int:
    at = text.find(anchor, start)
    if at < 0:
        raise Refused(f"{where} is not as expected: it has no {anchor.strip()!r}")
    return at


def registry_with(text: str, names: Names) -> str:
    """A ServiceSpec before the gateway's (the gateway starts last, after what it fronts)."""
    at = _find(text, GATEWAY_ENTRY, REGISTRY)
    return text[:at] + Template(REGISTRY_ENTRY).substitute(names.substitutions()) + text[at:]


def _append_to_contract(text: str, contract: str, key: str, item: str) -> str:
    """``text`` (pyproject.toml) with ``item`` appended to the list ``key`` of an import contract."""
    start = _find(text, f'name = "{contract}"', "pyproject.toml")
    opening = _find(text, f"{key} = [\n", f'pyproject.toml\'s "{contract}"', start)
    closing = _find(text, "\n]", f'pyproject.toml\'s "{contract}"', opening)
    return f'{text[:closing]}\n    "{item}",{text[closing:]}'


def contracts_with(text: str, names: Names) -> str:
    """The service in the independence contract; its domain, and its contracts, in the purity one."""
    text = _append_to_contract(text, INDEPENDENCE, "modules", f"toko.services.{names.name}")
    text = _append_to_contract(text, PURE_DOMAIN, "source_modules", f"toko.services.{names.name}.domain")
    text = _append_to_contract(text, PURE_DOMAIN, "forbidden_modules", f"toko.{names.name}")
    tomllib.loads(text)  # still TOML
    return text


def manifests_with(text: str, names: Names) -> str:
    """Its Deployment and Service."""
    return f"{text.rstrip()}\n{Template(K8S_MANIFESTS).substitute(names.substitutions())}"


def config_with(text: str, names: Names) -> str:
    """The gateway's upstream to it, one upstream a line."""
    lines = text.splitlines(keepends=True)
    start = next((i + 1 for i, line in enumerate(lines) if line.rstrip("\n") == UPSTREAMS_KEY), None)
    if start is None:
        raise Refused(f"{K8S_CONFIG} is not as expected: it has no {UPSTREAMS_KEY.strip()!r} block")
    end = start
    while end < len(lines) and lines[end].startswith("    "):
        end += 1
    upstreams = json.loads("".join(lines[start:end]))
    upstreams[f"toko.{names.name}.v1.{names.camel}Service"] = f"{names.dns}:{K8S_GRPC_PORT}"
    pairs = [f"{json.dumps(service)}: {json.dumps(address)}" for service, address in upstreams.items()]
    return "".join([*lines[:start], "    {" + ",\n     ".join(pairs) + "}\n", *lines[end:]])


def readme_with(text: str, names: Names) -> str:
    """A row of the service map, before the servers'."""
    at = _find(text, SERVICE_MAP_ANCHOR, "README.md's service map")
    return text[:at] + Template(SERVICE_MAP_ROW).substitute(names.substitutions()) + text[at:]


SHARED_EDITS = {
    REGISTRY: registry_with,
    "pyproject.toml": contracts_with,
    K8S_MANIFESTS_FILE: manifests_with,
    K8S_CONFIG: config_with,
    "README.md": readme_with,
}


# --- new files ----------------------------------------------------------------------------------------------


def new_files(names: Names) -> dict[str, str]:
    """Path (relative to the checkout) -> content of every file of the skeleton."""
    n = names.name
    templates = {
        f"proto/toko/{n}/v1/{n}.proto": PROTO,
        f"proto/toko/{n}/v1/events.proto": EVENTS_PROTO,
        f"src/toko/services/{n}/__init__.py": INIT,
        f"src/toko/services/{n}/__main__.py": MAIN,
        f"src/toko/services/{n}/settings.py": SETTINGS,
        f"src/toko/services/{n}/error_codes.py": ERROR_CODES,
        f"src/toko/services/{n}/domain.py": DOMAIN,
        f"src/toko/services/{n}/repository.py": REPOSITORY,
        f"src/toko/services/{n}/mapping.py": MAPPING,
        f"src/toko/services/{n}/handlers.py": HANDLERS,
        f"src/toko/services/{n}/consumers.py": CONSUMERS,
        f"src/toko/services/{n}/grpc_api.py": GRPC_API,
        f"src/toko/services/{n}/bootstrap.py": BOOTSTRAP,
        f"src/toko/services/{n}/migrations/env.py": MIGRATIONS_ENV,
        f"src/toko/services/{n}/migrations/script.py.mako": MIGRATION_SCRIPT,
        f"src/toko/services/{n}/migrations/versions/0001_notes.py": FIRST_MIGRATION,
        f"tests/unit/{n}/test_{n}_domain.py": UNIT_TEST,
        f"tests/integration/{n}/conftest.py": CONFTEST,
        f"tests/integration/{n}/{n}_testkit.py": TESTKIT,
        f"tests/integration/{n}/test_{n}_notes.py": INTEGRATION_TEST,
    }
    values = names.substitutions()
    return {path: Template(template).substitute(values) for path, template in templates.items()}


def run(*command: str) -> None:
    """Run a step of the generation in the checkout; its output only when it fails."""
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        sys.stderr.write(result.stdout + result.stderr)
        raise SystemExit(f"new_service: {' '.join(command[:3])} failed")


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python scripts/new_service.py NAME", file=sys.stderr)
        return 2
    name = argv[0]
    services = registered()
    try:
        check_name(name, services)
        names = Names(name, next_port(services))
        # Every shared file is changed in memory first, so that one not as expected stops us before
        # anything is written.
        edited = {path: change((ROOT / path).read_text(), names) for path, change in SHARED_EDITS.items()}
    except Refused as refused:
        print(f"new_service: {refused}", file=sys.stderr)
        return 1
    files = new_files(names)
    for relative, content in files.items():
        (ROOT / relative).parent.mkdir(parents=True, exist_ok=True)
        (ROOT / relative).write_text(content)
    run(sys.executable, "scripts/protogen.py")
    for relative, content in edited.items():
        (ROOT / relative).write_text(content)
    # Where the generated contracts (toko.NAME) sort among the imports, and the line breaks, depend on
    # the name: let ruff settle them.
    python = [relative for relative in files if relative.endswith(".py")]
    run(str(BIN / "ruff"), "check", "--quiet", "--fix", "--select", "I", *python)
    run(str(BIN / "ruff"), "format", "--quiet", *python, REGISTRY)
    print(f"new_service: {name} written, on port {names.port}:")
    for relative in [*files, *edited]:
        print(f"  {relative}")
    print(
        "Next: make lint; .venv/bin/pytest -q tests/unit/test_architecture.py "
        f"tests/unit/{name} tests/integration/{name}; make up (then GET /v1/{name}/notes/<id>)."
    )
    return 0


# --- templates ----------------------------------------------------------------------------------------------

REGISTRY_ENTRY = """\
    ServiceSpec(
        "${name}",
        "toko.services.${name}",
        ${port},
        proto_service="toko.${name}.v1.${Name}Service",
    ),
"""

SERVICE_MAP_ROW = """\
| `${name}` | notes (the skeleton of scripts/new_service.py: say here what it owns) | gRPC `:${port}` |
"""

K8S_MANIFESTS = """\
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: ${dns}
spec:
  replicas: 2
  selector:
    matchLabels: {app.kubernetes.io/name: ${dns}}
  template:
    metadata:
      labels: {app.kubernetes.io/name: ${dns}}
    spec:
      terminationGracePeriodSeconds: 15
      containers:
        - name: ${dns}
          image: toko
          command: ["python", "-m", "toko.services.${name}"]
          ports:
            - {name: grpc, containerPort: 50051}
          env:
            - {name: TOKO_${NAME}_HOST, value: 0.0.0.0}
            - {name: TOKO_${NAME}_PORT, value: "50051"}
          envFrom:
            - configMapRef: {name: toko-config}
            - secretRef: {name: toko-infra}
          readinessProbe:
            grpc: {port: 50051}
            periodSeconds: 5
          livenessProbe:
            grpc: {port: 50051}
            periodSeconds: 10
            failureThreshold: 6
          resources:
            requests: {cpu: 100m, memory: 160Mi}
            limits: {memory: 512Mi}
---
apiVersion: v1
kind: Service
metadata:
  name: ${dns}
spec:
  selector: {app.kubernetes.io/name: ${dns}}
  ports:
    - {name: grpc, port: 50051, targetPort: grpc, appProtocol: kubernetes.io/h2c}
"""

PROTO = """\
syntax = "proto3";

package toko.${name}.v1;

import "google/api/annotations.proto";
import "google/api/field_behavior.proto";
import "google/protobuf/timestamp.proto";
import "toko/options/v1/access.proto";

// ${Name}Service owns notes: short texts written by signed-in callers and read back by anyone.
service ${Name}Service {
  // CreateNote writes a note as the caller. A retry with the same Idempotency-Key gets the first answer.
  rpc CreateNote(CreateNoteRequest) returns (CreateNoteResponse) {
    option (google.api.http) = {
      post: "/v1/${name}/notes"
      body: "note"
    };
    // Any signed-in caller; the note is written as the token's subject.
    option (toko.options.v1.access) = {};
  }

  // GetNote returns a note by id.
  rpc GetNote(GetNoteRequest) returns (GetNoteResponse) {
    option (google.api.http) = {get: "/v1/${name}/notes/{id}"};
    option (toko.options.v1.access) = {public: true};
  }
}

// Note is a short text and who wrote it.
message Note {
  // Id of the note (UUIDv7).
  string id = 1 [(google.api.field_behavior) = OUTPUT_ONLY];
  // The text, 1 to 500 characters after trimming.
  string text = 2 [(google.api.field_behavior) = REQUIRED];
  // Who wrote it: the subject of the writer's token.
  string author_id = 3 [(google.api.field_behavior) = OUTPUT_ONLY];
  // When it was written.
  google.protobuf.Timestamp create_time = 4 [(google.api.field_behavior) = OUTPUT_ONLY];
  // When the service's own consumer of NoteCreated saw it; unset until then.
  google.protobuf.Timestamp seen_time = 5 [(google.api.field_behavior) = OUTPUT_ONLY];
}

// CreateNoteRequest carries the note to write.
message CreateNoteRequest {
  // The note; only its text is read.
  Note note = 1 [(google.api.field_behavior) = REQUIRED];
}

// CreateNoteResponse carries the note as written.
message CreateNoteResponse {
  // The note written.
  Note note = 1;
}

// GetNoteRequest names the note to read.
message GetNoteRequest {
  // Id of the note.
  string id = 1 [(google.api.field_behavior) = REQUIRED];
}

// GetNoteResponse carries the note.
message GetNoteResponse {
  // The note.
  Note note = 1;
}
"""

EVENTS_PROTO = """\
syntax = "proto3";

package toko.${name}.v1;

import "toko/${name}/v1/${name}.proto";

// NoteCreated is raised when a note is written.
message NoteCreated {
  // The note as written.
  Note note = 1;
}
"""

INIT = '''\
"""The ${name} service: notes, written and read back.

The skeleton scripts/new_service.py wrote: say here what the service owns.
"""
'''

MAIN = '''\
"""``python -m toko.services.${name}``."""

from toko.platform.service import run
from toko.services.${name}.bootstrap import bootstrap
from toko.services.${name}.settings import ${Name}Settings

if __name__ == "__main__":
    run("${name}", ${Name}Settings(), bootstrap)
'''

SETTINGS = '''\
"""${Name} service settings."""

from __future__ import annotations

from pydantic_settings import SettingsConfigDict

from toko.platform.settings import ServiceSettings


class ${Name}Settings(ServiceSettings):
    """Settings of the service, prefix ``TOKO_${NAME}_``."""

    model_config = SettingsConfigDict(env_prefix="TOKO_${NAME}_", extra="ignore")

    port: int = ${port}
    # A setting rather than a constant so that tests can give each module a fresh database.
    database_name: str = "${name}"
'''

ERROR_CODES = '''\
"""Stable reasons of the ${name} service's errors, so clients can branch on them.

They travel as ``google.rpc.ErrorInfo.reason`` (and as the ``reason`` of each
``BadRequest`` field violation). Never rename one: add a new reason instead. The
reasons every service shares (INVALID_ID, VALIDATION_FAILED…) are ``CommonReason``.
"""

from __future__ import annotations

from toko.platform.error_codes import ReasonCode


class ErrorCode(ReasonCode):
    """Why a ${name} request failed."""

    INVALID_NOTE_TEXT = "INVALID_NOTE_TEXT"
    NOTE_NOT_FOUND = "NOTE_NOT_FOUND"
'''

DOMAIN = '''\
"""The ${name} service's domain: notes and the rules they obey.

Pure Python: no database, transport or proto imports (an import-linter contract
keeps it so). A broken rule raises ``toko.platform.rules.ValidationFailed`` with
every violation found; the handlers turn it into INVALID_ARGUMENT.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from toko.platform.rules import Violation, raise_if
from toko.services.${name}.error_codes import ErrorCode

NOTE_TEXT_MAX_LENGTH = 500


@dataclass(frozen=True)
class Note:
    """A short text, who wrote it and when, and when the service's consumer saw it."""

    id: str
    text: str
    author_id: str
    created_at: datetime
    seen_at: datetime | None = None


def new_note(*, note_id: str, text: str, author_id: str, now: datetime) -> Note:
    """A note of trimmed ``text``; raise ``ValidationFailed`` when it is empty or too long."""
    text = text.strip()
    raise_if(
        []
        if 1 <= len(text) <= NOTE_TEXT_MAX_LENGTH
        else [
            Violation(
                "note.text", f"1 to {NOTE_TEXT_MAX_LENGTH} characters", ErrorCode.INVALID_NOTE_TEXT
            )
        ]
    )
    return Note(id=note_id, text=text, author_id=author_id, created_at=now)
'''

REPOSITORY = '''\
"""Persistence of notes (SQLAlchemy 2.0 Core over asyncpg).

The domain stays plain dataclasses: rows are mapped to and from them here. The
repository reads and writes in the caller's session and never commits; the unit
of work does.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Column, DateTime, MetaData, Row, Table, Text, Uuid, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from toko.services.${name}.domain import Note

metadata = MetaData()

notes = Table(
    "notes",
    metadata,
    Column("id", Uuid(as_uuid=False), primary_key=True),
    Column("text", Text, nullable=False),
    Column("author_id", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("seen_at", DateTime(timezone=True), nullable=True),
)


class NoteRepository:
    """Notes, in the caller's transaction."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, note: Note) -> None:
        """Insert a new note."""
        await self._session.execute(
            notes.insert().values(
                id=note.id,
                text=note.text,
                author_id=note.author_id,
                created_at=note.created_at,
                seen_at=note.seen_at,
            )
        )

    async def get(self, note_id: str) -> Note | None:
        """The note, or None."""
        row = (await self._session.execute(select(notes).where(notes.c.id == note_id))).first()
        return None if row is None else _note(row)

    async def mark_seen(self, note_id: str, at: datetime) -> bool:
        """Record when the note was first seen: True the first time, False after (or for no such note)."""
        marked = await self._session.execute(
            update(notes)
            .where(notes.c.id == note_id, notes.c.seen_at.is_(None))
            .values(seen_at=at)
            .returning(notes.c.id)
        )
        return marked.first() is not None


def _note(row: Row[Any]) -> Note:
    return Note(
        id=str(row.id),
        text=row.text,
        author_id=row.author_id,
        created_at=row.created_at,
        seen_at=row.seen_at,
    )
'''

MAPPING = '''\
"""Conversions between the service's protobuf messages and its domain objects."""

from __future__ import annotations

from datetime import datetime

from google.protobuf.timestamp_pb2 import Timestamp

from toko.${name}.v1 import ${name}_pb2 as pb
from toko.services.${name}.domain import Note


def timestamp(value: datetime) -> Timestamp:
    """A timestamp on the wire."""
    stamp = Timestamp()
    stamp.FromDatetime(value)
    return stamp


def note_to_proto(note: Note) -> pb.Note:
    """A note on the wire."""
    message = pb.Note(
        id=note.id,
        text=note.text,
        author_id=note.author_id,
        create_time=timestamp(note.created_at),
    )
    if note.seen_at is not None:
        message.seen_time.CopyFrom(timestamp(note.seen_at))
    return message
'''

HANDLERS = '''\
"""The ${name} service's use cases, one transaction each.

One function per command or query. Handlers take keyword-only arguments, the
caller's principal among them, and return protobuf messages. The events a write
raises are staged in its unit of work and committed with it, so they exist
exactly when the write does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from functools import partial

from toko.${name}.v1 import ${name}_pb2 as pb
from toko.${name}.v1 import events_pb2
from toko.platform.auth import Principal
from toko.platform.clock import Clock, utcnow
from toko.platform.db import Database, UnitOfWork
from toko.platform.errors import NotFound
from toko.platform.idempotency import idempotent
from toko.platform.ids import new_id, require_id
from toko.platform.validation import ruled
from toko.services.${name} import domain
from toko.services.${name}.error_codes import ErrorCode
from toko.services.${name}.mapping import note_to_proto
from toko.services.${name}.repository import NoteRepository

SOURCE = "${name}"
CREATE_NOTE_OPERATION = "${name}.CreateNote"


@dataclass(frozen=True)
class Notes:
    """What the use cases work with: the database and a clock."""

    database: Database
    clock: Clock = field(default=utcnow)


@dataclass(frozen=True)
class CreateNote:
    """Write a note."""

    text: str


async def create_note(
    *, notes: Notes, command: CreateNote, principal: Principal, idempotency_key: str = ""
) -> pb.Note:
    """Write a note as the caller; a retry with the same idempotency key gets the first answer."""
    async with notes.database.unit_of_work(SOURCE) as uow:
        async with idempotent(
            uow.session,
            operation=CREATE_NOTE_OPERATION,
            caller=principal.subject,
            key=idempotency_key,
            command=command,
        ) as replay:
            if replay.stored is not None:
                return pb.Note.FromString(replay.stored)
            note = ruled(
                partial(
                    domain.new_note,
                    note_id=new_id(),
                    text=command.text,
                    author_id=principal.subject,
                    now=notes.clock(),
                )
            )
            await NoteRepository(uow.session).add(note)
            message = note_to_proto(note)
            uow.publish(events_pb2.NoteCreated(note=message), subject=note.id)
            replay.response = message
        await uow.commit()
    return message


async def get_note(*, notes: Notes, note_id: str) -> pb.Note:
    """One note, or NOT_FOUND."""
    require_id(note_id, "id")
    async with notes.database.single_reads() as session:
        note = await NoteRepository(session).get(note_id)
    if note is None:
        raise NotFound(ErrorCode.NOTE_NOT_FOUND, f"no note {note_id}")
    return note_to_proto(note)


async def mark_seen(*, uow: UnitOfWork, note_id: str, at: datetime) -> bool:
    """Record, in the caller's unit of work, that the service saw the note; only the first time counts."""
    return await NoteRepository(uow.session).mark_seen(note_id, at)
'''

CONSUMERS = '''\
"""Event handlers of the ${name} service, each run by an ``EventConsumer``.

The service follows its own NoteCreated events and records on each note when it
saw it (``seen_time``), which GetNote shows. The consumer's inbox makes each
event's effect happen once, and marking a note seen again changes nothing either,
so a redelivered event is harmless.
"""

from __future__ import annotations

from google.protobuf.message import Message

from toko.${name}.v1 import events_pb2
from toko.common.v1.event_pb2 import EventEnvelope
from toko.platform.clock import Clock, utcnow
from toko.platform.db import UnitOfWork
from toko.platform.events import event_subject
from toko.services.${name}.handlers import SOURCE, mark_seen

NOTES_SEEN_CONSUMER = "${dns}-notes-seen"
NOTES_SEEN_SUBJECTS = (event_subject(SOURCE, events_pb2.NoteCreated.DESCRIPTOR.name),)


class NotesSeen:
    """Marks a note seen when its NoteCreated event arrives."""

    def __init__(self, clock: Clock = utcnow) -> None:
        self._clock = clock

    async def __call__(self, uow: UnitOfWork, envelope: EventEnvelope, payload: Message) -> None:
        """Mark the note the event is about seen, in the consumer's unit of work."""
        if isinstance(payload, events_pb2.NoteCreated):
            await mark_seen(uow=uow, note_id=payload.note.id, at=self._clock())
'''

GRPC_API = '''\
"""The gRPC servicer: request -> command -> handler -> response, nothing else."""

from __future__ import annotations

from typing import Any

from toko.${name}.v1 import ${name}_pb2 as pb
from toko.${name}.v1.${name}_pb2_grpc import ${Name}ServiceServicer
from toko.platform.context import current_principal, idempotency_key_var
from toko.services.${name} import handlers
from toko.services.${name}.handlers import Notes


class ${Name}Servicer(${Name}ServiceServicer):
    """Serves notes over gRPC; access rules are enforced by the platform's interceptor."""

    def __init__(self, notes: Notes) -> None:
        self._notes = notes

    async def CreateNote(self, request: pb.CreateNoteRequest, context: Any) -> pb.CreateNoteResponse:
        """Write a note."""
        note = await handlers.create_note(
            notes=self._notes,
            command=handlers.CreateNote(text=request.note.text),
            principal=current_principal(),
            idempotency_key=idempotency_key_var.get(),
        )
        return pb.CreateNoteResponse(note=note)

    async def GetNote(self, request: pb.GetNoteRequest, context: Any) -> pb.GetNoteResponse:
        """Return a note."""
        return pb.GetNoteResponse(note=await handlers.get_note(notes=self._notes, note_id=request.id))
'''

BOOTSTRAP = '''\
"""Wires the service: database and migrations, events, servicer and workers."""

from __future__ import annotations

from pathlib import Path

import nats

from toko.${name}.v1 import ${name}_pb2 as pb
from toko.${name}.v1.${name}_pb2_grpc import add_${Name}ServiceServicer_to_server
from toko.platform.consumer import EventConsumer
from toko.platform.db import open_service_database
from toko.platform.events import stream_name
from toko.platform.grpc import GrpcService
from toko.platform.outbox import OutboxRelay, ensure_streams
from toko.platform.service import ServiceApp
from toko.services.${name}.consumers import NOTES_SEEN_CONSUMER, NOTES_SEEN_SUBJECTS, NotesSeen
from toko.services.${name}.grpc_api import ${Name}Servicer
from toko.services.${name}.handlers import SOURCE, Notes
from toko.services.${name}.settings import ${Name}Settings

MIGRATIONS = Path(__file__).parent / "migrations"


async def bootstrap(settings: ${Name}Settings) -> ServiceApp:
    """Build the service with its outbox relay and its consumer of its own events."""
    database = await open_service_database(settings, MIGRATIONS)
    connection = await nats.connect(settings.nats_url, name="toko-${name}", max_reconnect_attempts=-1)
    await ensure_streams(connection.jetstream(), [SOURCE])
    relay = OutboxRelay(database, connection, source=SOURCE)
    seen = EventConsumer(
        name=NOTES_SEEN_CONSUMER,
        stream=stream_name(SOURCE),
        subjects=NOTES_SEEN_SUBJECTS,
        database=database,
        nats=connection,
        handler=NotesSeen(),
        service=SOURCE,
    )
    return ServiceApp(
        name=SOURCE,
        grpc_services=[
            GrpcService(
                descriptor=pb.DESCRIPTOR.services_by_name["${Name}Service"],
                servicer=${Name}Servicer(Notes(database=database)),
                register=add_${Name}ServiceServicer_to_server,
            )
        ],
        workers=[relay.run, seen.run],
        on_stop=[connection.drain, database.dispose],
    )
'''

MIGRATIONS_ENV = '''\
"""Alembic environment of the service: the platform's, over the async engine."""

from toko.platform.migrations import run_alembic_environment

run_alembic_environment()
'''

MIGRATION_SCRIPT = '''\
"""$${message}

Revision ID: $${up_revision}
Revises: $${down_revision | comma,n}
Create Date: $${create_date}
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
$${imports if imports else ""}

revision = $${repr(up_revision)}
down_revision = $${repr(down_revision)}
branch_labels = $${repr(branch_labels)}
depends_on = $${repr(depends_on)}


def upgrade() -> None:
    $${upgrades if upgrades else "pass"}


def downgrade() -> None:
    $${downgrades if downgrades else "pass"}
'''

FIRST_MIGRATION = '''\
"""Notes, and the platform's outbox, inbox and idempotency tables.

Revision ID: 0001
Revises:
Create Date: ${date}
"""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

import sqlalchemy as sa
from alembic import op

from toko.platform.schema import create_platform_tables, drop_platform_tables

if TYPE_CHECKING:
    from alembic.operations import Operations

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    # ``op`` is the module-level proxy of the running Operations.
    create_platform_tables(cast("Operations", op))
    op.create_table(
        "notes",
        sa.Column(
            "id", sa.Uuid(as_uuid=False), primary_key=True, comment="UUIDv7: sorting by id sorts by creation"
        ),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("author_id", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "seen_at", sa.DateTime(timezone=True), nullable=True, comment="set by the notes-seen consumer"
        ),
    )


def downgrade() -> None:
    op.drop_table("notes")
    drop_platform_tables(cast("Operations", op))
'''

UNIT_TEST = '''\
"""The ${name} service's rules, without I/O."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from toko.platform.rules import ValidationFailed
from toko.services.${name}.domain import NOTE_TEXT_MAX_LENGTH, new_note
from toko.services.${name}.error_codes import ErrorCode

NOW = datetime(2025, 1, 1, tzinfo=UTC)


def test_a_note_keeps_its_trimmed_text_and_its_author() -> None:
    note = new_note(note_id="n-1", text="  Halo dunia  ", author_id="user-1", now=NOW)

    assert (note.text, note.author_id, note.created_at, note.seen_at) == ("Halo dunia", "user-1", NOW, None)


@pytest.mark.parametrize("text", ["", "   ", "x" * (NOTE_TEXT_MAX_LENGTH + 1)])
def test_an_empty_or_overlong_note_is_refused_naming_its_field(text: str) -> None:
    with pytest.raises(ValidationFailed) as refused:
        new_note(note_id="n-1", text=text, author_id="user-1", now=NOW)

    violations = [(v.field, v.reason) for v in refused.value.violations]
    assert violations == [("note.text", ErrorCode.INVALID_NOTE_TEXT)]
'''

CONFTEST = '''\
"""Fixtures for the ${name} service's integration tests: a real service on a fresh database per module."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

import grpc
import pytest
from ${name}_testkit import Eventually, ${name}_settings

from toko.${name}.v1 import ${name}_pb2_grpc
from toko.infra.servers import InfraEndpoints
from toko.platform.db import Database, service_database_url
from toko.platform.service import RunningService, start_service
from toko.services.${name}.bootstrap import bootstrap
from toko.services.${name}.settings import ${Name}Settings


@pytest.fixture(scope="module")
def settings(infrastructure: InfraEndpoints, request: pytest.FixtureRequest) -> ${Name}Settings:
    """Settings with a fresh database for this test module."""
    module = request.module.__name__.rsplit(".", 1)[-1]
    return ${name}_settings(infrastructure, f"{module}_{uuid.uuid4().hex[:8]}")


@pytest.fixture(scope="module")
async def service(settings: ${Name}Settings) -> AsyncIterator[RunningService]:
    """The ${name} service, bootstrapped as in production, serving on a free port."""
    running = await start_service(await bootstrap(settings), settings)
    yield running
    await running.stop(1.0)


@pytest.fixture(scope="module")
async def stub(service: RunningService) -> AsyncIterator[${name}_pb2_grpc.${Name}ServiceStub]:
    """A gRPC client of the service."""
    async with grpc.aio.insecure_channel(f"127.0.0.1:{service.port}") as channel:
        yield ${name}_pb2_grpc.${Name}ServiceStub(channel)


@pytest.fixture(scope="module")
async def database(service: RunningService, settings: ${Name}Settings) -> AsyncIterator[Database]:
    """The service's database, to check what was (not) written."""
    db = Database(service_database_url(settings.database_url, settings.database_name), pool_size=2)
    yield db
    await db.dispose()


@pytest.fixture
def eventually() -> Eventually:
    """Wait until an async condition holds, failing the test after ten seconds."""

    async def wait(check: Callable[[], Awaitable[bool]], within: float = 10.0) -> None:
        deadline = time.monotonic() + within
        while not await check():
            if time.monotonic() > deadline:
                pytest.fail(f"condition not met within {within} s")
            await asyncio.sleep(0.05)

    return wait
'''

TESTKIT = '''\
"""Helpers of the ${name} service's integration tests (a module of its own: conftest is not importable)."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import grpc
import pytest
from google.rpc import error_details_pb2, status_pb2

from toko.infra.servers import InfraEndpoints
from toko.platform.testing_auth import bearer, mint_token, trusting_env
from toko.services.${name}.settings import ${Name}Settings

Metadata = tuple[tuple[str, str], ...]
# The ``eventually`` fixture: wait until an async condition holds.
Eventually = Callable[..., Awaitable[None]]


def as_user(subject: str = "") -> Metadata:
    """Metadata of a signed-in buyer (a new one unless ``subject`` is given)."""
    token = mint_token(sub=subject or f"user-{uuid.uuid4().hex[:8]}", roles=["buyer"], scopes=["account"])
    return (("authorization", bearer(token)),)


def ${name}_settings(infrastructure: InfraEndpoints, database_name: str, **overrides: Any) -> ${Name}Settings:
    """Settings pointing at the session's servers and a database of the test's own."""
    return ${Name}Settings.model_validate(
        {
            "TOKO_DATABASE_URL": infrastructure.database_url,
            "TOKO_NATS_URL": infrastructure.nats_url,
            "TOKO_REDIS_URL": infrastructure.redis_url,
            **trusting_env(),
            "port": 0,
            "database_name": database_name,
            "db_pool_size": 4,
            **overrides,
        }
    )


def error_details(error: grpc.aio.AioRpcError) -> tuple[str, list[str]]:
    """The ErrorInfo reason and the BadRequest field paths of a failed call."""
    raw = dict(error.trailing_metadata() or ())["grpc-status-details-bin"]
    status = status_pb2.Status.FromString(raw)
    reason, fields = "", []
    for detail in status.details:
        info, bad_request = error_details_pb2.ErrorInfo(), error_details_pb2.BadRequest()
        if detail.Unpack(info):
            reason = info.reason
        elif detail.Unpack(bad_request):
            fields = [v.field for v in bad_request.field_violations]
    return reason, fields


async def failure(call: Awaitable[Any]) -> tuple[grpc.StatusCode, str, list[str]]:
    """Await a call that must fail; its status code, reason and fields at fault."""
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call
    reason, fields = error_details(caught.value)
    return caught.value.code(), reason, fields
'''

INTEGRATION_TEST = '''\
"""Notes through the real ${name} service: written once, read back, seen by its own consumer."""

from __future__ import annotations

import uuid

import grpc
from ${name}_testkit import Eventually, as_user, failure
from sqlalchemy import func, select

from toko.${name}.v1 import ${name}_pb2 as pb
from toko.${name}.v1 import ${name}_pb2_grpc
from toko.platform.db import Database
from toko.platform.schema import outbox

Stub = ${name}_pb2_grpc.${Name}ServiceStub


async def test_a_note_is_written_read_back_and_seen_by_the_consumer(
    stub: Stub, database: Database, eventually: Eventually
) -> None:
    # Given a signed-in caller
    caller = f"user-{uuid.uuid4().hex[:8]}"

    # When they write a note
    request = pb.CreateNoteRequest(note=pb.Note(text=" Halo "))
    written = (await stub.CreateNote(request, metadata=as_user(caller))).note

    # Then anyone reads it back, and the service's consumer of NoteCreated marks it seen
    assert (written.text, written.author_id, written.HasField("seen_time")) == ("Halo", caller, False)

    async def seen() -> bool:
        note = (await stub.GetNote(pb.GetNoteRequest(id=written.id))).note
        return note.HasField("seen_time")

    await eventually(seen)
    assert await _events_about(database, written.id) == ["toko.${name}.v1.NoteCreated"]


async def test_a_retried_write_with_the_same_idempotency_key_writes_one_note(
    stub: Stub, database: Database
) -> None:
    caller = as_user()
    key = (("idempotency-key", str(uuid.uuid4())),)
    request = pb.CreateNoteRequest(note=pb.Note(text="Sekali saja"))

    first = await stub.CreateNote(request, metadata=caller + key)
    again = await stub.CreateNote(request, metadata=caller + key)

    assert again.note == first.note
    assert await _events_about(database, first.note.id) == ["toko.${name}.v1.NoteCreated"]


async def test_a_bad_note_is_refused_naming_its_field_and_writes_nothing(
    stub: Stub, database: Database
) -> None:
    before = await _count_events(database)

    blank = pb.CreateNoteRequest(note=pb.Note(text="  "))
    code, reason, fields = await failure(stub.CreateNote(blank, metadata=as_user()))

    assert (code, reason, fields) == (grpc.StatusCode.INVALID_ARGUMENT, "INVALID_NOTE_TEXT", ["note.text"])
    assert await _count_events(database) == before


async def test_writing_needs_a_signed_in_caller(stub: Stub) -> None:
    code, reason, _ = await failure(stub.CreateNote(pb.CreateNoteRequest(note=pb.Note(text="Halo"))))

    assert (code, reason) == (grpc.StatusCode.UNAUTHENTICATED, "AUTHENTICATION_REQUIRED")


async def test_an_unknown_or_malformed_id_is_answered_plainly(stub: Stub) -> None:
    assert (await failure(stub.GetNote(pb.GetNoteRequest(id=str(uuid.uuid4())))))[:2] == (
        grpc.StatusCode.NOT_FOUND,
        "NOTE_NOT_FOUND",
    )
    assert await failure(stub.GetNote(pb.GetNoteRequest(id="not-an-id"))) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "INVALID_ID",
        ["id"],
    )


async def _events_about(database: Database, note_id: str) -> list[str]:
    async with database.sessions() as session:
        rows = await session.execute(select(outbox.c.type).where(outbox.c.aggregate == note_id))
    return [row.type for row in rows]


async def _count_events(database: Database) -> int:
    async with database.sessions() as session:
        return int((await session.execute(select(func.count()).select_from(outbox))).scalar_one())
'''


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
