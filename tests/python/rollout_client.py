#!/usr/bin/python3
"""An independent client of r1's rollout service: compiles proto/rollout.proto with Python's grpc tools
(Debian's python3-grpc-tools) and calls the worker at ADDRESS. Exits 0 and prints "ok" when every check
holds; otherwise an assertion names what failed.

    rollout_client.py ADDRESS REPO_ROOT
"""
import os
import sys
import tempfile

import grpc
from grpc_tools import protoc


def main():
    address, root = sys.argv[1], sys.argv[2]
    out = tempfile.mkdtemp(prefix="r1-pyproto-")
    rc = protoc.main(["protoc", f"-I{root}", f"--python_out={out}", f"--grpc_python_out={out}",
                      "proto/rollout.proto", "proto/health.proto"])
    assert rc == 0, f"protoc failed ({rc})"
    sys.path.insert(0, out)
    from proto import rollout_pb2 as pb, rollout_pb2_grpc as pbg, health_pb2, health_pb2_grpc

    channel = grpc.insecure_channel(address)
    stub = pbg.RolloutStub(channel)

    status = stub.GetStatus(pb.StatusRequest(), timeout=10)
    assert status.precision == "bf16", status
    assert status.kv_cache_tokens > 0, status
    assert status.queue_depth == 0 and status.running_sequences == 0, status

    health = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service=""), timeout=10)
    assert health.status == health_pb2.HealthCheckResponse.SERVING, health

    req = pb.GenerateRequest(request_id="py-1", prompt_ids=pb.TokenIds(ids=[5, 6, 7, 8]),
                             params=pb.SamplingParams(n=3, max_new_tokens=6, temperature=1.0, seed=11))
    got = list(stub.Generate(req, timeout=60))
    assert sorted(c.index for c in got) == [0, 1, 2], got
    for c in got:
        assert c.request_id == "py-1"
        assert len(c.ids) == 6 and len(c.logprobs) == 6, c
        assert all(lp <= 0 for lp in c.logprobs), c
        assert c.finish_reason == pb.FINISH_REASON_LENGTH, c
        assert c.prompt_tokens == 4
    # The same seed replays the same samples.
    again = {c.index: list(c.ids) for c in stub.Generate(req, timeout=60)}
    assert again == {c.index: list(c.ids) for c in got}

    # Chat messages through the tokenizer's template.
    chat = pb.GenerateRequest(request_id="py-chat", messages=pb.Messages(messages=[pb.ChatMessage(role="user", content="2+2?")]),
                              params=pb.SamplingParams(n=1, max_new_tokens=3))
    (c,) = list(stub.Generate(chat, timeout=60))
    assert len(c.ids) <= 3 and c.prompt_tokens > 5, c

    # Malformed requests: INVALID_ARGUMENT naming the field, and the worker goes on serving.
    bad = [
        (pb.GenerateRequest(request_id="bad-n", prompt_ids=pb.TokenIds(ids=[1]), params=pb.SamplingParams(n=0, max_new_tokens=4)), "params.n"),
        (pb.GenerateRequest(request_id="bad-id", prompt_ids=pb.TokenIds(ids=[1, 99999])), "prompt_ids[1]"),
        (pb.GenerateRequest(request_id="bad-t", prompt_ids=pb.TokenIds(ids=[1]),
                            params=pb.SamplingParams(n=1, max_new_tokens=4, temperature=float("nan"))), "params.temperature"),
        (pb.GenerateRequest(request_id="bad-p", prompt_ids=pb.TokenIds(ids=[1]),
                            params=pb.SamplingParams(n=1, max_new_tokens=4, top_p=1.5)), "params.top_p"),
        (pb.GenerateRequest(request_id="no-prompt"), "prompt: set prompt_ids or messages"),
    ]
    for request, field in bad:
        try:
            list(stub.Generate(request, timeout=30))
        except grpc.RpcError as e:
            assert e.code() == grpc.StatusCode.INVALID_ARGUMENT, (request.request_id, e.code(), e.details())
            assert field in e.details(), (request.request_id, e.details())
        else:
            raise AssertionError(f"{request.request_id}: accepted")
    assert stub.GetStatus(pb.StatusRequest(), timeout=10).running_sequences == 0
    print("ok")


if __name__ == "__main__":
    main()
