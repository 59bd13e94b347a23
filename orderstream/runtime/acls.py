"""Who may do what on Kafka: one Kafka user per context, and its ACLs, from topics/topics.toml.

The user of context c is `settings.kafka_user(c)`: `<ORDERSTREAM_KAFKA_USER_PREFIX><c>`, by
default `[<namespace>.]orderstream-<c>`. It is granted (ALLOW, any host) exactly what the
context's worker does:

- its own topics: WRITE `<c>.commands` (HTTP views, reactions, ports), `<c>.events`,
  `<c>.deadletter` and its table changelogs; READ its commands and changelogs (recovery);
- READ the events topics it `consumes` (payment's and shipment's ports, the order's audit trail);
- WRITE the commands topics of the contexts it `sends` to in the configured saga mode (replies,
  the saga's next steps); choreography needs more of these than orchestration;
- DESCRIBE and DESCRIBE_CONFIGS on every topic it uses: workers check their topics at start;
- READ its consumer group (the app id); CREATE, READ and DESCRIBE on Faust's leader-election
  topic `<app id>-__assignor-__leader`, which Faust makes at first start;
- with processing_guarantee=exactly_once, WRITE and DESCRIBE on its transactional ids (prefix
  `<app id>-`: Faust names them `<group>-<topic group>-<partition>`).

`apply` creates the missing ACLs and removes ALLOW ACLs of these users that the spec does not
grant; `drift` lists both. DENY ACLs are left alone. On a cluster without an authorizer there
is nothing to manage. `check_access` is a worker's own start-up check: can it log in, and may it
do all of the above? It names the first thing missing, so a worker never starts half-allowed.
"""

import asyncio
import ssl
from dataclasses import dataclass
from itertools import groupby

from aiokafka.conn import create_conn
from aiokafka.errors import (CoordinatorNotAvailableError, GroupAuthorizationFailedError, KafkaError,
                             SaslAuthenticationFailed)
from aiokafka.protocol.admin import (CreateAclsRequest_v1, DeleteAclsRequest_v1, DescribeAclsRequest_v1,
                                     DescribeGroupsRequest_v3, DescribeGroupsResponse_v3)
from aiokafka.protocol.api import Request, RequestStruct, Response
from aiokafka.protocol.types import Array, Boolean, Int16, Int32, Schema, String

from orderstream.runtime.kafka import admin, client_kwargs
from orderstream.settings import CONTEXTS, Settings

RESOURCES = {"topic": 2, "group": 3, "cluster": 4, "transactional_id": 5}
OPERATIONS = {"all": 2, "read": 3, "write": 4, "create": 5, "delete": 6, "alter": 7, "describe": 8,
              "cluster_action": 9, "describe_configs": 10, "alter_configs": 11, "idempotent_write": 12}
PATTERNS = {"literal": 3, "prefixed": 4}
ANY, ALLOW = 1, 3
SECURITY_DISABLED, TOPIC_DENIED, GROUP_DENIED, CLUSTER_DENIED = 54, 29, 30, 31
COORDINATOR_NOT_AVAILABLE = 15
COORDINATOR_MOVING = (14, 15, 16)  # load in progress, not available, not the coordinator


@dataclass(frozen=True, order=True)
class Need:
    """One thing a worker does on Kafka: an operation on a resource (pattern: literal or prefixed)."""

    resource: str
    name: str
    operation: str
    pattern: str = "literal"

    def __str__(self) -> str:
        return f"{self.operation.upper()} {self.resource} {self.name}{'*' if self.pattern == 'prefixed' else ''}"


@dataclass(frozen=True, order=True)
class Acl:
    principal: str
    need: Need

    def __str__(self) -> str:
        return f"{self.principal} may {self.need}"


class AccessError(SystemExit):
    """A worker cannot log in, or its user lacks an ACL: one line saying which and what to do."""


def leader_topic(settings: Settings, context: str) -> str:
    from orderstream.runtime.topics import app_id

    return f"{app_id(settings, context)}-__assignor-__leader"


def needs(settings: Settings, context: str) -> list[Need]:
    """Everything the context's worker does on Kafka, from the spec and the settings."""
    from orderstream.runtime.topics import app_id, read_spec, topics_for

    sends = read_spec()["contexts"][context]["sends"][settings.saga_mode.value]
    found: list[Need] = []
    for topic in topics_for(settings):
        ops: set[str] = set()
        if topic.owner == context:
            ops |= {"write"} | ({"read"} if topic.kind in ("commands", "changelog") else set())
        if context in topic.consumers:
            ops.add("read")
        if topic.kind == "commands" and topic.owner in sends:
            ops.add("write")
        if ops:
            found += [Need("topic", topic.name, op) for op in sorted(ops | {"describe", "describe_configs"})]
    group = app_id(settings, context)
    found += [Need("group", group, "read")]
    found += [Need("topic", leader_topic(settings, context), op) for op in ("create", "describe", "read")]
    if settings.processing_guarantee == "exactly_once":
        found += [Need("transactional_id", f"{group}-", op, "prefixed") for op in ("describe", "write")]
    return sorted(found)


def acls_for(settings: Settings) -> list[Acl]:
    return sorted(Acl(f"User:{settings.kafka_user(ctx)}", need)
                  for ctx in CONTEXTS for need in needs(settings, ctx))


# --- the cluster's ACLs: describe, create, delete ---------------------------------------------

class _Acls(Request[DescribeAclsRequest_v1]):
    API_KEY = 29

    def __init__(self, principal: str):
        self.principal = principal

    def build(self, request_struct_class: type[DescribeAclsRequest_v1]) -> DescribeAclsRequest_v1:
        return request_struct_class(ANY, None, ANY, self.principal, None, ANY, ANY)


class _CreateAcls(Request[CreateAclsRequest_v1]):
    API_KEY = 30

    def __init__(self, acls: list[Acl]):
        self.acls = acls

    def build(self, request_struct_class: type[CreateAclsRequest_v1]) -> CreateAclsRequest_v1:
        return request_struct_class([_wire(acl) for acl in self.acls])


class _DeleteAcls(Request[DeleteAclsRequest_v1]):
    API_KEY = 31

    def __init__(self, acls: list[Acl]):
        self.acls = acls

    def build(self, request_struct_class: type[DeleteAclsRequest_v1]) -> DeleteAclsRequest_v1:
        return request_struct_class([_wire(acl) for acl in self.acls])


def _wire(acl: Acl) -> tuple:
    need = acl.need
    return (RESOURCES[need.resource], need.name, PATTERNS[need.pattern], acl.principal, "*",
            OPERATIONS[need.operation], ALLOW)


def _named(table: dict[str, int], code: int) -> str | None:
    return next((name for name, value in table.items() if value == code), None)


async def current(client, principals: list[str]) -> list[Acl] | None:
    """The ALLOW ACLs (any host) of these principals; None: the cluster has no authorizer."""
    found = []
    for principal in principals:
        response = await client._send_request(_Acls(principal))
        if response.error_code == SECURITY_DISABLED:
            return None
        if response.error_code:
            raise _denied_admin(response.error_code, response.error_message)
        for resource, name, pattern, acls in response.resources:
            for who, host, operation, permission in acls:
                need = Need(_named(RESOURCES, resource) or str(resource), name,
                            _named(OPERATIONS, operation) or str(operation),
                            _named(PATTERNS, pattern) or str(pattern))
                if permission == ALLOW and host == "*":
                    found.append(Acl(who, need))
    return sorted(found)


def _denied_admin(code: int, message: str | None) -> RuntimeError:
    if code == CLUSTER_DENIED:
        return RuntimeError("this Kafka user may not manage ACLs (it needs DESCRIBE and ALTER on the "
                            "cluster): run `orderstream topics apply` as an admin user, or set "
                            "ORDERSTREAM_KAFKA_MANAGE_ACLS=false when ACLs are managed elsewhere")
    return RuntimeError(f"Kafka refused to list ACLs: error {code} {message or ''}".strip())


async def drift(settings: Settings) -> list[str]:
    """What differs between the spec's ACLs and the cluster's, one line each."""
    if not settings.kafka_manage_acls:
        return []
    client = admin(settings)
    await client.start()
    try:
        wanted = acls_for(settings)
        actual = await current(client, sorted({acl.principal for acl in wanted}))
    finally:
        await client.close()
    if actual is None:
        return []
    return ([f"acl missing: {acl}" for acl in sorted(set(wanted) - set(actual))]
            + [f"acl not in the spec: {acl}" for acl in sorted(set(actual) - set(wanted))])


async def apply(settings: Settings, timeout: float = 30.0) -> list[str]:
    """Create the spec's ACLs and remove the ALLOW ACLs of the context users it does not grant;
    return once the broker enforces them (it applies ACL changes a moment after it accepts them)."""
    if not settings.kafka_manage_acls:
        return []
    client = admin(settings)
    await client.start()
    try:
        wanted = acls_for(settings)
        principals = sorted({acl.principal for acl in wanted})
        actual = await current(client, principals)
        if actual is None:
            return []
        missing, extra = sorted(set(wanted) - set(actual)), sorted(set(actual) - set(wanted))
        if missing:
            response = await client._send_request(_CreateAcls(missing))
            _raise_errors("create", missing, [(code, message) for code, message in response.creation_responses])
        if extra:
            response = await client._send_request(_DeleteAcls(extra))
            _raise_errors("delete", extra, [(code, message) for code, message, _ in response.filter_responses])
        deadline = asyncio.get_running_loop().time() + timeout
        while (missing or extra) and set(await current(client, principals) or ()) != set(wanted):
            if asyncio.get_running_loop().time() > deadline:
                raise RuntimeError(f"the broker did not apply the ACL changes within {timeout:.0f}s")
            await asyncio.sleep(0.2)
    finally:
        await client.close()
    return [f"acl granted: {acl}" for acl in missing] + [f"acl removed: {acl}" for acl in extra]


def _raise_errors(action: str, acls: list[Acl], results: list[tuple[int, str | None]]) -> None:
    errors = [f"{acl}: {message or code}" for acl, (code, message) in zip(acls, results) if code]
    if errors:
        raise RuntimeError(f"could not {action} ACLs: " + "; ".join(errors))


# --- a worker's own start-up check ------------------------------------------------------------

class _MetadataResponse8(Response):
    API_KEY, API_VERSION = 3, 8
    SCHEMA = Schema(
        ("throttle_time_ms", Int32),
        ("brokers", Array(("node_id", Int32), ("host", String("utf-8")), ("port", Int32),
                          ("rack", String("utf-8")))),
        ("cluster_id", String("utf-8")), ("controller_id", Int32),
        ("topics", Array(("error_code", Int16), ("name", String("utf-8")), ("is_internal", Boolean),
                         ("partitions", Array(("error_code", Int16), ("partition_index", Int32),
                                              ("leader_id", Int32), ("leader_epoch", Int32),
                                              ("replica_nodes", Array(Int32)), ("isr_nodes", Array(Int32)),
                                              ("offline_replicas", Array(Int32)))),
                         ("topic_authorized_operations", Int32))),
        ("cluster_authorized_operations", Int32))


class _MetadataStruct8(RequestStruct):
    API_KEY, API_VERSION, RESPONSE_TYPE = 3, 8, _MetadataResponse8
    SCHEMA = Schema(("topics", Array(String("utf-8"))), ("allow_auto_topic_creation", Boolean),
                    ("include_cluster_authorized_operations", Boolean),
                    ("include_topic_authorized_operations", Boolean))


class _TopicAccess(Request[_MetadataStruct8]):
    """Metadata v8: the operations this client may perform on each topic (KIP-430)."""
    API_KEY = 3

    def __init__(self, topics: list[str]):
        self.topics = topics

    def build(self, request_struct_class: type[_MetadataStruct8]) -> _MetadataStruct8:
        return request_struct_class(self.topics, False, False, True)


class _GroupStruct3(DescribeGroupsRequest_v3):
    RESPONSE_TYPE = DescribeGroupsResponse_v3  # aiokafka 0.14 parses v3 answers as v2, without the bits


class _GroupAccess(Request[_GroupStruct3]):
    API_KEY = 15

    def __init__(self, group: str):
        self.group = group

    def build(self, request_struct_class: type[_GroupStruct3]) -> _GroupStruct3:
        return request_struct_class([self.group], True)


def _allows(bits: int, operation: str) -> bool:
    """Kafka's authorized-operations bit field; ALL implies each, DESCRIBE follows READ/WRITE."""
    return bool(bits & (1 << OPERATIONS[operation]))


async def check_access(settings: Settings, context: str) -> None:
    """Log in as the worker would, and make sure its user may do all it needs; raise AccessError
    with one line naming the user and the first thing missing."""
    user = settings.kafka_user(context) if settings.kafka_sasl_username is None else settings.kafka_sasl_username
    if not await _login(settings, context, user):
        return  # no broker reachable yet: Faust waits for one, as it always has
    client = admin(settings)
    await client.start()
    try:
        lacking = await _lacking(client, settings, context)
    finally:
        await client.close()
    if lacking:
        more = f" (and {len(lacking) - 1} more)" if len(lacking) > 1 else ""
        raise AccessError(f"orderstream {context}: Kafka user {user!r} may not {lacking[0]}{more}; "
                          f"grant it with `orderstream topics apply` run as a Kafka admin user "
                          f"(the ACLs of user {settings.kafka_user(context)!r} are in topics/topics.toml)")


async def _login(settings: Settings, context: str, user: str | None) -> bool:
    """One connection attempt per bootstrap server until one answers (True). A refused login or
    certificate ends the start at once, with the reason and no secret; no server reachable
    (False) is left to Faust, which waits for the brokers."""
    kwargs = client_kwargs(settings)
    kwargs.pop("bootstrap_servers")
    for server in settings.kafka_bootstrap_servers.split(","):
        host, _, port = server.strip().rpartition(":")
        try:
            conn = await create_conn(host, int(port), request_timeout_ms=10000, **kwargs)
        except SaslAuthenticationFailed:
            raise AccessError(f"orderstream {context}: Kafka at {server} refused the login of user {user!r} "
                              f"({settings.kafka_sasl_mechanism}): wrong user name or password; check "
                              "ORDERSTREAM_KAFKA_SASL_USERNAME and ORDERSTREAM_KAFKA_SASL_PASSWORD") from None
        except ssl.SSLCertVerificationError as error:
            raise AccessError(f"orderstream {context}: the TLS certificate of Kafka at {server} is not "
                              f"trusted ({error.verify_message}); check ORDERSTREAM_KAFKA_SSL_CAFILE") from None
        except (OSError, KafkaError, asyncio.TimeoutError):
            continue
        conn.close()
        return True
    return False


async def _lacking(client, settings: Settings, context: str) -> list[str]:
    wanted = needs(settings, context)
    topics = sorted({n.name for n in wanted if n.resource == "topic"})
    response = await client._send_request(_TopicAccess(topics))
    seen = {name: (code, bits) for code, name, _, _, bits in response.topics}
    lacking = []
    for need in (n for n in wanted if n.resource == "topic"):
        code, bits = seen.get(need.name, (TOPIC_DENIED, 0))
        if need.name == leader_topic(settings, context) and code != 0:
            continue  # Faust creates it at first start; CREATE cannot be asked of a missing topic
        if code == TOPIC_DENIED or (code == 0 and not _allows(bits, need.operation)):
            lacking.append(str(need))
    groups = [n for n in wanted if n.resource == "group"]
    for name, group_needs in groupby(groups, key=lambda n: n.name):
        code, bits = await _group_access(client, name)
        lacking += [str(n) for n in group_needs if code == GROUP_DENIED or not _allows(bits, n.operation)]
    return lacking


async def _group_access(client, group: str, timeout: float = 30.0) -> tuple[int, int]:
    """(error code, authorized operations) of a consumer group, asked of its coordinator; on a
    new cluster the coordinator is there once the offsets topic is made and loaded."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        try:
            node = await client.find_coordinator(group)
            answer = await client._send_request(_GroupAccess(group), node)
            code, _, _, _, _, _, bits = answer.groups[0]
        except GroupAuthorizationFailedError:
            return GROUP_DENIED, 0
        except CoordinatorNotAvailableError:
            code, bits = COORDINATOR_NOT_AVAILABLE, 0
        if code not in COORDINATOR_MOVING:
            return code, bits
        if asyncio.get_running_loop().time() > deadline:
            raise AccessError(f"the coordinator of consumer group {group} did not answer within "
                              f"{timeout:.0f}s (error {code})")
        await asyncio.sleep(0.5)
