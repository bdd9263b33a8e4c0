"""Generated protobuf messages of the gRPC contracts in ``proto/nova/pb``.

Do not edit: regenerate with ``.venv/bin/python scripts/gen_proto.py``
(``tests/unit/rpc/test_proto_fresh.py`` fails when these files are stale).
"""

# The generated modules are imported by name (``from nova.pb import users_pb2``).
__all__: list[str] = []
