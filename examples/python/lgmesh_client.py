#!/usr/bin/env python3
"""Search, watch and publish on an lgmesh node over gRPC, from Python.

    python lgmesh_client.py search "bin collection" --lgsl 524
    python lgmesh_client.py watch --lgsl 524
    LGMESH_TOKEN=$(cat guildford/admin.token) python lgmesh_client.py publish m.toml

The Python modules for `lgmesh.v1` are generated from the node's .proto files
(`proto/proto/` in the repository) with grpcio-tools the first time this runs, into
`.stubs/` beside this file: nothing generated is committed. See README.md.
"""

import argparse
import hashlib
import importlib.resources
import os
import shutil
import sys
import tempfile
from pathlib import Path

# gRPC's C core logs handshake failures to stderr itself; the error printed below says
# the same in one line.
os.environ.setdefault("GRPC_VERBOSITY", "NONE")

import grpc  # noqa: E402

HERE = Path(__file__).resolve().parent
PROTO_DIR = Path(
    os.environ.get("LGMESH_PROTO_DIR", HERE.parent.parent / "proto" / "proto")
)
# Unary calls give up after this many seconds rather than hang on a stuck network.
TIMEOUT = 30
# A page of 100 search hits can hold more than gRPC's default 4 MiB.
CHANNEL_OPTIONS = [("grpc.max_receive_message_length", 16 * 1024 * 1024)]


def load_stubs():
    """Imports the generated `lgmesh.v1` registry modules, generating them first when
    the .proto files changed. Safe to run several at once: each generates into a
    temporary directory and the first to finish renames it into place."""
    protos = sorted(PROTO_DIR.glob("lgmesh/v1/*.proto"))
    if not protos:
        sys.exit(
            f"error: no .proto files in {PROTO_DIR}/lgmesh/v1 (set LGMESH_PROTO_DIR)"
        )
    digest = hashlib.sha256(b"".join(p.read_bytes() for p in protos)).hexdigest()[:16]
    out = HERE / ".stubs" / digest
    if not out.is_dir():
        from grpc_tools import protoc

        out.parent.mkdir(exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix="tmp-"))
        well_known = importlib.resources.files("grpc_tools") / "_proto"
        status = protoc.main(
            [
                "protoc",
                f"--proto_path={PROTO_DIR}",
                f"--proto_path={well_known}",
                f"--python_out={tmp}",
                f"--grpc_python_out={tmp}",
                *(str(p.relative_to(PROTO_DIR)) for p in protos),
            ]
        )
        if status != 0:
            shutil.rmtree(tmp)
            sys.exit(f"error: protoc failed on {PROTO_DIR}")
        try:
            tmp.rename(out)
        except OSError:  # another run got there first
            shutil.rmtree(tmp)
    sys.path.insert(0, str(out))
    from lgmesh.v1 import registry_pb2, registry_pb2_grpc

    return registry_pb2, registry_pb2_grpc


pb, pb_grpc = load_stubs()


def connect(args):
    """A channel to the node: plain TCP, or TLS when `--ca` or `--tls` is given (or the
    address starts with `https://`)."""
    tls = args.ca or args.tls or args.addr.startswith("https://")
    addr = args.addr.removeprefix("http://").removeprefix("https://")
    if tls:
        # Without --ca: the system's CA certificates.
        roots = Path(args.ca).read_bytes() if args.ca else None
        creds = grpc.ssl_channel_credentials(root_certificates=roots)
        return grpc.secure_channel(addr, creds, options=CHANNEL_OPTIONS)
    return grpc.insecure_channel(addr, options=CHANNEL_OPTIONS)


def admin_metadata(args):
    """`authorization: Bearer <token>`, which writes over TCP need. The token is the
    content of `<data-dir>/admin.token` on the node's machine."""
    token = os.environ.get("LGMESH_TOKEN", "")
    if args.token_file:
        token = Path(args.token_file).read_text()
    token = token.strip()
    return [("authorization", f"Bearer {token}")] if token else []


def line(m):
    """One manifest as a line: kind, publisher, name and version, title, trust."""
    body = m.body
    kind = body.WhichOneof("kind")  # "service", "dataset", "org", "need", …
    if kind in ("service", "dataset"):
        title = getattr(body, kind).common.title
    elif kind == "org":
        title = body.org.name
    elif kind == "need":
        title = body.need.title
    else:
        title = ""
    who = m.org_name or m.org_id or m.publisher
    trust = pb.Verification.Name(m.verification).removeprefix("VERIFICATION_").lower()
    return f"{m.kind:<8} {body.name} v{body.version}  {title}  ({who}, {trust})  {m.id}"


def search(stub, args):
    req = pb.SearchRequest(
        text=args.text,
        kind=args.kind,
        lgsl=args.lgsl,
        area=args.area,
        verified_only=args.verified_only,
        page_size=args.limit,
    )
    resp = stub.Search(req, timeout=TIMEOUT)
    print(f"{len(resp.hits)} of {resp.total}")
    for hit in resp.hits:
        print(line(hit.manifest))


def watch(stub, args):
    req = pb.WatchRequest(
        text=args.text, kind=args.kind, lgsl=args.lgsl, area=args.area
    )
    stream = stub.Watch(req)  # no deadline: it runs until we stop it
    stream.initial_metadata()  # the node answers once the watch is registered
    print("watching", flush=True)
    try:
        for n, m in enumerate(stream, start=1):
            print(line(m), flush=True)
            if n == args.count:
                break
    finally:
        stream.cancel()


def publish(stub, args):
    path = Path(args.file)
    fmt = {".yml": "yaml"}.get(path.suffix, path.suffix.lstrip("."))
    req = pb.PublishRequest(
        name=args.name, document=pb.Document(format=fmt, text=path.read_text())
    )
    resp = stub.Publish(req, metadata=admin_metadata(args), timeout=TIMEOUT)
    print(
        pb.Outcome.Name(resp.outcome).removeprefix("OUTCOME_").capitalize(),
        line(resp.manifest),
    )


def main():
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "--addr",
        default=os.environ.get("LGMESH_GRPC", "127.0.0.1:7420"),
        help="the node's gRPC address (default: $LGMESH_GRPC or 127.0.0.1:7420)",
    )
    p.add_argument(
        "--token-file",
        help="the node's admin.token, for publish (default: $LGMESH_TOKEN)",
    )
    p.add_argument("--ca", help="speak TLS, trusting this CA certificate (PEM)")
    p.add_argument(
        "--tls", action="store_true", help="speak TLS, trusting the system's CAs"
    )
    cmds = p.add_subparsers(dest="command", required=True)

    def filters(c):
        c.add_argument("text", nargs="?", default="", help="free text")
        c.add_argument("--kind", default="", help="service, dataset, org, need, …")
        c.add_argument("--lgsl", type=int, default=0, help="an LGSL code, e.g. 524")
        c.add_argument("--area", default="", help="a GSS area code, e.g. E07000209")

    c = cmds.add_parser("search", help="search the catalogue")
    filters(c)
    c.add_argument("--verified-only", action="store_true")
    c.add_argument(
        "--limit", type=int, default=20, help="at most this many hits (1–100)"
    )
    c.set_defaults(run=search)
    c = cmds.add_parser("watch", help="print manifests as the node stores them")
    filters(c)
    c.add_argument(
        "--count", type=int, default=0, help="stop after this many (0: never)"
    )
    c.set_defaults(run=watch)
    c = cmds.add_parser(
        "publish", help="publish a manifest file (needs the admin token)"
    )
    c.add_argument(
        "file", help="a TOML manifest, or a UK metadata model record (.yaml, .json)"
    )
    c.add_argument(
        "--name", default="", help="the name to publish under (default: the file's)"
    )
    c.set_defaults(run=publish)

    args = p.parse_args()
    try:
        with connect(args) as channel:
            args.run(pb_grpc.RegistryStub(channel), args)
    except grpc.RpcError as e:
        sys.exit(f"error: {e.code().name}: {e.details()}")
    except OSError as e:  # a file named on the command line: the CA, the token, the manifest
        sys.exit(f"error: {e}")
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
