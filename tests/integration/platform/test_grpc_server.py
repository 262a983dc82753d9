"""The gRPC server factory and its interceptor, on a real server (the echo service)."""

import asyncio
import collections
from collections.abc import AsyncIterator

import grpc
import pytest
from google.rpc import error_details_pb2, status_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc

from toko.echo.v1 import echo_pb2, echo_pb2_grpc
from toko.platform.service import RunningService, start_service
from toko.services.echo.bootstrap import bootstrap
from toko.services.echo.settings import EchoSettings


@pytest.fixture
async def echo() -> AsyncIterator[RunningService]:
    settings = EchoSettings(port=0)
    running = await start_service(await bootstrap(settings), settings)
    yield running
    await running.stop(0.5)


async def test_echo_answers_and_reports_healthy(echo: RunningService) -> None:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{echo.port}") as channel:
        reply = await echo_pb2_grpc.EchoServiceStub(channel).Echo(echo_pb2.EchoRequest(message="halo"))
        health = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service=""))
    assert reply.message == "halo"
    assert health.status == health_pb2.HealthCheckResponse.SERVING


async def test_domain_errors_travel_as_rich_status(echo: RunningService) -> None:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{echo.port}") as channel:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await echo_pb2_grpc.EchoServiceStub(channel).Echo(echo_pb2.EchoRequest(message="x" * 300))
    error = caught.value
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    raw = dict(error.trailing_metadata() or ())["grpc-status-details-bin"]
    status = status_pb2.Status.FromString(raw)
    info, bad_request = error_details_pb2.ErrorInfo(), error_details_pb2.BadRequest()
    assert status.details[0].Unpack(info)
    assert status.details[1].Unpack(bad_request)
    assert info.reason == "MESSAGE_TOO_LONG"
    assert info.domain == "toko.echo"
    assert bad_request.field_violations[0].field == "message"


async def test_a_nul_character_in_a_string_is_refused_before_the_servicer(echo: RunningService) -> None:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{echo.port}") as channel:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await echo_pb2_grpc.EchoServiceStub(channel).Echo(echo_pb2.EchoRequest(message="ha\x00lo"))
    error = caught.value
    status = status_pb2.Status.FromString(dict(error.trailing_metadata() or ())["grpc-status-details-bin"])
    info, bad_request = error_details_pb2.ErrorInfo(), error_details_pb2.BadRequest()
    assert status.details[0].Unpack(info)
    assert status.details[1].Unpack(bad_request)
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert info.reason == "NUL_CHARACTER"
    assert [v.field for v in bad_request.field_violations] == ["message"]


async def test_a_streaming_rpc_streams_and_is_held_to_the_same_validation(echo: RunningService) -> None:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{echo.port}") as channel:
        stub = echo_pb2_grpc.EchoServiceStub(channel)
        replies = [
            r.message async for r in stub.EchoStream(echo_pb2.EchoStreamRequest(message="hi", count=3))
        ]
        with pytest.raises(grpc.aio.AioRpcError) as nul:
            [r async for r in stub.EchoStream(echo_pb2.EchoStreamRequest(message="h\x00i", count=1))]
        with pytest.raises(grpc.aio.AioRpcError) as too_many:
            [r async for r in stub.EchoStream(echo_pb2.EchoStreamRequest(message="hi", count=1000))]
    assert replies == ["hi", "hi", "hi"]
    assert nul.value.code() == too_many.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    status = status_pb2.Status.FromString(
        dict(too_many.value.trailing_metadata() or ())["grpc-status-details-bin"]
    )
    info = error_details_pb2.ErrorInfo()
    assert status.details[0].Unpack(info)
    assert info.domain == "toko.echo"


async def test_stopping_reports_not_serving_and_refuses_new_calls() -> None:
    settings = EchoSettings(port=0)
    running = await start_service(await bootstrap(settings), settings)
    port = running.port
    await running.stop(0.1)
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await echo_pb2_grpc.EchoServiceStub(channel).Echo(echo_pb2.EchoRequest(message="x"), timeout=1)
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE


async def test_a_burst_of_calls_is_queued_and_answered_not_cancelled(echo: RunningService) -> None:
    # A flash sale's rush arrives as thousands of calls at once on the gateway's one connection; gRPC
    # core cancels calls beyond its pending-request limit (1,000 by default) unless the server raises it.
    async with grpc.aio.insecure_channel(f"127.0.0.1:{echo.port}") as channel:
        stub = echo_pb2_grpc.EchoServiceStub(channel)

        async def one(index: int) -> str:
            try:
                reply = await stub.Echo(echo_pb2.EchoRequest(message=f"halo {index}"), timeout=60)
            except grpc.aio.AioRpcError as error:
                return error.code().name
            return "OK" if reply.message == f"halo {index}" else "WRONG"

        answers = await asyncio.gather(*(one(i) for i in range(3000)))
    assert collections.Counter(answers) == {"OK": 3000}
