"""The benchmark harness's pure parts: request counting, span arithmetic, targets (no timing here)."""

from __future__ import annotations

import socket
import threading

import pytest
from benchmarks.figures import (
    chain_figures,
    latency_figures,
    nearest_rank,
    summarize,
    targets,
    union,
)
from benchmarks.proxy import CountingProxy, RequestParser, route_of


def heads(*chunks: bytes) -> list[tuple[str, str]]:
    seen: list[tuple[str, str]] = []
    parser = RequestParser(lambda method, target, headers: seen.append((method, target)))
    for chunk in chunks:
        parser.feed(chunk)
    return seen


def test_keep_alive_requests_with_bodies_are_counted_once_each() -> None:
    body = b'{"item_ids": [1, 2]}'
    stream = (b"POST /api/v1/queue/default/items_by_ids HTTP/1.1\r\nContent-Length: " + str(len(body)).encode()
              + b"\r\n\r\n" + body + b"GET /api/v1/app/version HTTP/1.1\r\nHost: x\r\n\r\n")
    expected = [("POST", "/api/v1/queue/default/items_by_ids"), ("GET", "/api/v1/app/version")]
    assert heads(stream) == expected
    assert heads(*(stream[k:k + 1] for k in range(len(stream)))) == expected  # a byte at a time


def test_a_chunked_body_that_looks_like_a_request_is_skipped() -> None:
    inner = b"GET /not-a-request HTTP/1.1\r\n\r\n"
    stream = (b"POST /upload HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
              + f"{len(inner):x}\r\n".encode() + inner + b"\r\n0\r\n\r\n" + b"GET /next HTTP/1.1\r\n\r\n")
    assert heads(stream) == [("POST", "/upload"), ("GET", "/next")]


def test_after_a_websocket_upgrade_only_bytes_count() -> None:
    stream = (b"GET /ws/socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nConnection: Upgrade\r\n"
              b"Upgrade: websocket\r\n\r\n" + b"\x81\x05GET /x HTTP/1.1\r\n\r\n")
    assert heads(stream) == [("GET", "/ws/socket.io/?EIO=4&transport=websocket")]


def test_routes_fold_ids_uuids_and_image_names() -> None:
    assert route_of("GET", "/api/v1/queue/default/i/4711?x=1") == "GET /api/v1/queue/default/i/{id}"
    assert route_of("GET", "/api/v1/images/i/0b8f0a2d-7f33-4ed1-a723-168048167a74.png/full") == (
        "GET /api/v1/images/i/{id}/full")


def test_the_proxy_forwards_and_counts_each_way() -> None:
    upstream = socket.create_server(("127.0.0.1", 0))
    answer = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"

    def serve() -> None:
        conn, _ = upstream.accept()
        with conn:
            received = b""
            while received.count(b"\r\n\r\n") < 2:
                received += conn.recv(4096)
            conn.sendall(answer * 2)

    threading.Thread(target=serve, daemon=True).start()
    with CountingProxy("127.0.0.1", upstream.getsockname()[1]) as proxy:
        request = b"GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n"
        with socket.create_connection(("127.0.0.1", proxy.port)) as client:
            client.sendall(request)
            got = b""
            while len(got) < 2 * len(answer):
                got += client.recv(4096)
        counts = proxy.snapshot()
    upstream.close()
    assert got == answer * 2
    assert counts["requests"] == 2 and counts["routes"] == {"GET /a": 1, "GET /b": 1}
    assert counts["bytes_sent"] == len(request) and counts["bytes_received"] == 2 * len(answer)


def test_union_merges_overlaps_and_clips_to_a_window() -> None:
    spans = [(0.0, 2.0), (1.0, 3.0), (5.0, 6.0)]
    assert union(spans) == 4.0
    assert union(spans, (2.5, 5.5)) == 1.0


def test_nearest_rank_p95_of_30_is_the_29th() -> None:
    values = [float(k) for k in range(1, 31)]
    assert nearest_rank(values, 0.95) == 29.0
    assert nearest_rank(values, 0.5) == 15.0


def test_chain_figures_from_server_timestamps() -> None:
    items = [{"started_at": "2026-01-01 00:00:01.000", "completed_at": "2026-01-01 00:00:02.000"},
             {"started_at": "2026-01-01 00:00:02.500", "completed_at": "2026-01-01 00:00:04.000"}]
    t0 = 1767225600.0  # 2026-01-01T00:00:00Z
    figures = chain_figures(t0, items, foreign=[(t0 + 0.2, t0 + 0.6)])
    assert figures["wall_s"] == pytest.approx(4.0)
    assert figures["busy"] == pytest.approx(2.5 / 4.0)
    assert figures["idle_ms_per_item"] == pytest.approx(750.0)
    assert figures["lead_ms"] == pytest.approx(1000.0)
    assert figures["lead_foreign_ms"] == pytest.approx(400.0)


def test_medians_ranges_and_targets_over_repetitions() -> None:
    runs = [
        {"name": f"chain.{mode}", "rep": rep, "figures": {"busy": busy, "idle_ms_per_item": idle, "wall_s": wall}}
        for rep, (a, b) in enumerate([((0.95, 50.0, 10.0), (0.99, 10.0, 9.0)), ((0.97, 40.0, 12.0), (0.99, 20.0, 8.0)),
                                      ((0.99, 30.0, 11.0), (0.99, 30.0, 9.0))])
        for mode, (busy, idle, wall) in (("ours_scheduled", a), ("floor", b))
    ]
    summary = summarize(runs)
    assert summary["chain"]["busy"]["ours_scheduled"] == 0.97
    assert summary["range"]["chain.busy.ours_scheduled"] == [0.95, 0.99]
    assert summary["chain"]["wall_ratio"]["scheduled_vs_floor"] == pytest.approx(11 / 9, abs=1e-3)
    verdicts = {t["target"]: t for t in targets(summary)}
    assert verdicts["chain busy fraction >= 0.98 (scheduled)"]["met"] is False
    assert verdicts["idle per item <= 1.5x the floor's (scheduled)"]["limit"] == 30.0
    assert verdicts["idle per item <= 1.5x the floor's (scheduled)"]["met"] is False


def test_latency_keeps_quiet_jobs_apart() -> None:
    t0 = 1767225600.0
    items = [{"item_id": k, "started_at": f"2026-01-01 00:00:0{2 * k}.000",
              "completed_at": f"2026-01-01 00:00:0{2 * k + 1}.000"} for k in range(3)]
    result = {"t0": t0, "jobs": [{"item_id": k, "returned": t0 + 2 * k + 1 + 0.01 * (k + 1)} for k in range(3)]}
    figures = latency_figures(result, items, foreign=[(t0 + 3.2, t0 + 3.8)])  # right after job 1
    assert figures["p50_ms"] == pytest.approx(20.0)
    assert figures["quiet_jobs"] == 2
    assert figures["quiet_p95_ms"] == pytest.approx(30.0)
