"""`compose.yaml` for a layout: the cluster's shape on a single Docker host.

The same services, commands and environment as the Kubernetes manifests (from
`Layout.environment`), a PostgreSQL per module, a one-shot migration per module that its
service waits for, and Redis. Networks stand in for the network policies: every one is
internal (no way out) but the edge's public one; a module's database sits on a network of
its own shared only with the owning service and its migration; Redis on one network per
service; and two services share a network only where the registry lets one call the other.

No credential is written here. Each is a `${VARIABLE}` that `bulkhead deploy secrets
--compose` writes to a 0600 `.env` beside it; Compose refuses to start, saying so, when
one is missing. Keys and database passwords reach the containers as Compose secrets,
owned by the user that reads them and readable by no other.
"""

from __future__ import annotations

from dataclasses import dataclass

from .k8s_common import (
    PGVECTOR_IMAGE,
    PGVECTOR_INIT_SQL,
    PORT,
    POSTGRES_IMAGE,
    POSTGRES_PORT,
    REDIS_IMAGE,
    REDIS_PORT,
    UID,
    Manifest,
    database_host,
)
from .layout import Layout, Service

POSTGRES_UID = 999  # the postgres user of the official (and pgvector) images
MISSING = "run: bulkhead deploy secrets --compose --out .env"


class FileMode(int):
    """A file's permission bits, written in octal (`0400`) as Compose's own examples do."""


@dataclass(frozen=True)
class ComposeOptions:
    image: str
    port: int = PORT  # where the edge is published on the host


JWT_VARIABLE = "BULKHEAD_JWT_SECRET"


def variable(kind: str, name: str) -> str:
    """The `.env` variable holding one module's or service's credential: kind DB_PASSWORD,
    KEY (a service's private key) or PUB (its public key)."""
    return f"BULKHEAD_{kind}_{name.upper().replace('-', '_')}"


def compose(layout: Layout, options: ComposeOptions) -> Manifest:
    services: Manifest = {"redis": _redis(layout)}
    for module in layout.databases:
        owner = layout.owner(module.name)
        vector = "vector" in module.postgres_extensions
        services[database_host(module.name)] = _postgres(module.name, vector)
        services[f"migrate-{module.name}"] = _migration(module.name, owner, layout, options)
    for service in layout.services:
        services[service.name] = _server(service, layout, options)
    networks: Manifest = {name: {"internal": True} for name in _network_names(layout)}
    networks["public"] = {}
    return {
        "name": "bulkhead",
        "services": services,
        "networks": networks,
        "volumes": {
            **{database_host(m.name): {} for m in layout.databases},
            "redis": {},
        },
        "secrets": {
            **{
                f"db-{m.name}-password": {"environment": variable("DB_PASSWORD", m.name)}
                for m in layout.databases
            },
            **{f"key-{s.name}": {"environment": variable("KEY", s.name)} for s in layout.services},
        },
        "configs": {
            "pgvector-init": {"content": PGVECTOR_INIT_SQL},
            **{f"pub-{s.name}": {"environment": variable("PUB", s.name)} for s in layout.services},
            **{
                f"modules-{s.name}": {"content": ",".join(sorted(s.key_modules)) + "\n"}
                for s in layout.services
            },
        },
    }


def _network_names(layout: Layout) -> list[str]:
    names = [*(database_host(m.name) for m in layout.databases)]
    names += [f"redis-{s.name}" for s in layout.services]
    names += sorted({_rpc_network(a, b) for a in layout.services for b in layout.callers(a)})
    return names


def _rpc_network(a: Service, b: Service) -> str:
    """Docker networks are symmetric: one per pair of services where either calls the
    other (the callee's service-token check refuses the direction the registry does not)."""
    first, second = sorted((a.name, b.name))
    return f"rpc-{first}-{second}"


def _networks_of(service: Service, layout: Layout) -> list[str]:
    """Its own databases, its own way to Redis, and one network per service it calls or
    is called by: no other container shares one with it."""
    peers = [
        other
        for other in layout.services
        if other in layout.callers(service) or service in layout.callers(other)
    ]
    return [
        *(["public"] if service.edge else []),
        f"redis-{service.name}",
        *(database_host(m) for m in service.modules),
        *(_rpc_network(service, other) for other in peers),
    ]


def _unprivileged(uid: int) -> Manifest:
    return {
        "user": f"{uid}:{uid}",
        "cap_drop": ["ALL"],
        "security_opt": ["no-new-privileges:true"],
    }


def _hardened() -> Manifest:
    """Bulkhead's own containers: also a read-only root, with private scratch space."""
    return {
        **_unprivileged(UID),
        "read_only": True,
        "tmpfs": ["/tmp:size=256m", f"/data:uid={UID},gid={UID},mode=0700"],  # noqa: S108
    }


def _database_url(module: str) -> str:
    user = f"bulkhead_{module}"
    password = f"${{{variable('DB_PASSWORD', module)}:?{MISSING}}}"
    return f"postgresql://{user}:{password}@{database_host(module)}:{POSTGRES_PORT}/{user}"


def _server(service: Service, layout: Layout, options: ComposeOptions) -> Manifest:
    redis_url = f"redis://redis:{REDIS_PORT}/0"
    environment = {
        **layout.environment(service, lambda other: f"http://{other.name}:{PORT}"),
        "BULKHEAD_DATA_DIR": "/data",
        "BULKHEAD_KEYS_DIR": "/keys",
        "BULKHEAD_BUS_URL": redis_url,
        "BULKHEAD_REDIS_URL": redis_url,
        "BULKHEAD_JWT_SECRET": f"${{{JWT_VARIABLE}:?{MISSING}}}",
        **{f"BULKHEAD_DATABASE_URL_{m.upper()}": _database_url(m) for m in service.modules},
    }
    hardened = _hardened()
    if "tools" in service.modules:
        # bubblewrap's user namespaces: Docker's default seccomp and AppArmor profiles
        # refuse them; nothing else is granted (see the README and the Kubernetes pod).
        hardened["security_opt"] += ["seccomp=unconfined", "apparmor=unconfined"]
    probe = f"import urllib.request as u; u.urlopen('http://127.0.0.1:{PORT}/health/ready')"
    return {
        "image": options.image,
        "command": ["bulkhead", "serve", "--host", "0.0.0.0", "--port", str(PORT)],  # noqa: S104
        "environment": dict(sorted(environment.items())),
        **hardened,
        "secrets": [_owned(f"key-{service.name}", f"/keys/{service.name}.key", UID)],
        "configs": [
            {
                "source": f"{kind}-{s.name}",
                "target": f"/keys/{s.name}.{suffix}",
                "mode": FileMode(0o444),
            }
            for s in layout.services
            for kind, suffix in (("pub", "pub"), ("modules", "modules"))
        ],
        "networks": _networks_of(service, layout),
        **({"ports": [f"{options.port}:{PORT}"]} if service.edge else {}),
        "depends_on": {
            "redis": {"condition": "service_healthy"},
            **{
                f"migrate-{m}": {"condition": "service_completed_successfully"}
                for m in service.modules
            },
        },
        "healthcheck": {
            "test": ["CMD", "python", "-c", probe],
            "interval": "10s",
            "timeout": "3s",
            "retries": 3,
            "start_period": "60s",
        },
        "restart": "unless-stopped",
        "deploy": {"resources": {"limits": {"cpus": "2", "memory": "2g"}}},
    }


def _migration(module: str, owner: Service, layout: Layout, options: ComposeOptions) -> Manifest:
    return {
        "image": options.image,
        "command": ["bulkhead", "db", "upgrade", "--module", module],
        "environment": {
            "BULKHEAD_DATA_DIR": "/data",
            f"BULKHEAD_DATABASE_URL_{module.upper()}": _database_url(module),
        },
        **_hardened(),
        "networks": [database_host(module)],
        "depends_on": {database_host(module): {"condition": "service_healthy"}},
        "restart": "on-failure",
    }


def _postgres(module: str, vector: bool) -> Manifest:
    user = f"bulkhead_{module}"
    return {
        "image": PGVECTOR_IMAGE if vector else POSTGRES_IMAGE,
        "environment": {
            "POSTGRES_USER": user,
            "POSTGRES_DB": user,
            "POSTGRES_PASSWORD_FILE": "/run/secrets/password",
        },
        **_unprivileged(POSTGRES_UID),
        "secrets": [_owned(f"db-{module}-password", "/run/secrets/password", POSTGRES_UID)],
        **({"configs": [_pgvector_init()]} if vector else {}),
        "volumes": [f"{database_host(module)}:/var/lib/postgresql/data"],
        "networks": [database_host(module)],
        "healthcheck": {
            "test": ["CMD", "pg_isready", "-h", "127.0.0.1", "-U", user, "-d", user],
            "interval": "5s",
            "timeout": "3s",
            "retries": 20,
        },
        "restart": "unless-stopped",
    }


def _pgvector_init() -> Manifest:
    target = "/docker-entrypoint-initdb.d/pgvector.sql"
    return {"source": "pgvector-init", "target": target, "mode": FileMode(0o444)}


def _redis(layout: Layout) -> Manifest:
    return {
        "image": REDIS_IMAGE,
        "command": ["redis-server", "--appendonly", "yes", "--dir", "/data"],
        **_unprivileged(POSTGRES_UID),  # the redis image's user is 999 too
        "volumes": ["redis:/data"],
        "networks": [f"redis-{s.name}" for s in layout.services],
        "healthcheck": {
            "test": ["CMD", "redis-cli", "ping"],
            "interval": "5s",
            "timeout": "3s",
            "retries": 20,
        },
        "restart": "unless-stopped",
    }


def _owned(source: str, target: str, uid: int) -> Manifest:
    """A Compose secret copied into the container for one user only (0400)."""
    return {
        "source": source,
        "target": target,
        "uid": str(uid),
        "gid": str(uid),
        "mode": FileMode(0o400),
    }
