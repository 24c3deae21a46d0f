"""A real gRPC server and client (grpcio, gRPC's official Python implementation) for
apigw/tests/grpc.rs. Messages are raw bytes: no protobuf code generation.

  grpc_echo.py serve              prints the port, then serves test.Echo until killed:
                                  Unary (echo:<msg>; `fail` aborts NOT_FOUND), Chat (bidi echo),
                                  each echoing the X-Ca-Request-Id it got in trailing metadata
  grpc_echo.py call TARGET JSON   runs the calls JSON lists through TARGET, prints JSON results
"""
import json
import sys
from concurrent import futures

import grpc


def unary(request, context):
    seen = dict(context.invocation_metadata()).get("x-ca-request-id", "")
    context.set_trailing_metadata((("x-seen-request-id", seen),))
    if request == b"fail":
        context.abort(grpc.StatusCode.NOT_FOUND, "no such thing")
    return b"echo:" + request


def chat(requests, context):
    for message in requests:
        yield b"echo:" + message


def serve():
    handler = grpc.method_handlers_generic_handler(
        "test.Echo",
        {
            "Unary": grpc.unary_unary_rpc_method_handler(unary),
            "Chat": grpc.stream_stream_rpc_method_handler(chat),
        },
    )
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
    server.add_generic_rpc_handlers((handler,))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    print(port, flush=True)
    server.wait_for_termination()


def metadata_of(*lists):
    out = {}
    for items in lists:
        for key, value in items or ():
            out[key] = value if isinstance(value, str) else value.decode("latin-1")
    return out


def call(target, spec):
    channel = grpc.insecure_channel(target, options=[("grpc.default_authority", spec["authority"])])
    results = []
    for c in spec["calls"]:
        metadata = [tuple(m) for m in c.get("metadata", [])]
        try:
            if c["kind"] == "unary":
                stub = channel.unary_unary(c["method"])
                reply, rpc = stub.with_call(c["message"].encode(), metadata=metadata, timeout=10)
                results.append({
                    "code": "OK", "replies": [reply.decode()],
                    "metadata": metadata_of(rpc.initial_metadata(), rpc.trailing_metadata()),
                })
            else:
                stub = channel.stream_stream(c["method"])
                responses = stub(iter([m.encode() for m in c["messages"]]), metadata=metadata, timeout=10)
                replies = [r.decode() for r in responses]
                results.append({
                    "code": "OK", "replies": replies,
                    "metadata": metadata_of(responses.initial_metadata(), responses.trailing_metadata()),
                })
        except grpc.RpcError as e:
            results.append({
                "code": e.code().name, "details": e.details(),
                "metadata": metadata_of(e.initial_metadata(), e.trailing_metadata()),
            })
    print(json.dumps(results))


if __name__ == "__main__":
    if sys.argv[1] == "serve":
        serve()
    else:
        call(sys.argv[2], json.loads(sys.argv[3]))
