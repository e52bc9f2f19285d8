"""Load the local suite (`make run`'s stack) with N partner registrations over loopback HTTP (issue 13 item 24).

Starts `dealreg local --reset` in a child process on free ports with a throw-away state directory, posts N
signed `opportunity.registered` webhooks for N distinct companies (`--workers` at a time), and records each
request's latency and the child's resident memory (VmRSS, sampled every second). The child's event runner
dedups and indexes every registration in the background meanwhile, which is where moto's transactions work.
At the end it waits (bounded) for the pipeline to move the last registration out of `submitted`.

    .venv/bin/python -m bench.local_load --n 5000 [--workers 4] [--json out.json]

Prints one line per bucket of requests (median/p95/max latency, answers, RSS) and a summary.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = json.loads((ROOT / "examples" / "opportunity.json").read_text())
# Company names people write: a region, a two/three-character trade name, a line of business, a legal form.
REGIONS = ["北京", "上海", "深圳市", "广州", "杭州", "成都", "武汉", "南京", "苏州", "西安", "重庆", "天津"]
TRADE = "华腾瑞博安信达恒通泰和新宏远嘉兴永盛汇鑫隆润丰源明德凯利科创智云海"
LINES = ["科技", "信息技术", "网络科技", "软件", "电子", "数据服务", "智能装备", "医疗器械", "新材料", "物流"]
FORMS = ["有限公司", "股份有限公司", "集团有限公司"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def company(rng: random.Random, i: int) -> str:
    trade = "".join(rng.sample(TRADE, rng.choice((2, 3))))
    return f"{rng.choice(REGIONS)}{trade}{rng.choice(LINES)}{FORMS[i % len(FORMS)]}"


def rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def request(url: str, data: bytes | None, headers: dict, timeout: float = 120) -> tuple[int, bytes]:
    req = urllib.request.Request(url, data=data, headers=headers, method="POST" if data is not None else "GET")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


def start_suite(state: Path, port: int, moto_port: int, log) -> subprocess.Popen:
    # One partner sends everything here, so lift its pending cap (20 by default) above N.
    env = {**os.environ, "DEALREG_LOG_LEVEL": "WARNING",
           "DEALREG_OWNERSHIP_RULES": json.dumps({"pending_cap": 1_000_000})}
    cmd = [str(Path(sys.executable).parent / "dealreg"), "local", "--reset", "--port", str(port),
           "--moto-port", str(moto_port), "--state-dir", str(state)]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"dealreg local exited with {proc.returncode}; see its log")
        if (state / "demo.json").exists():
            try:
                status, _ = request(f"http://127.0.0.1:{port}/v1/registrations", None, {}, timeout=5)
                if status == 401:
                    return proc
            except OSError:
                pass
        time.sleep(0.5)
    proc.terminate()
    raise SystemExit("the local suite did not come up in 180 s")


def main(argv: list[str] | None = None) -> int:
    from connectors.standard_webhooks import sign

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=5000)
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--bucket", type=int, default=0, help="requests per reported bucket (default n/10)")
    ap.add_argument("--drain-timeout", type=float, default=600, help="seconds to wait for the pipeline at the end")
    ap.add_argument("--json", help="write the raw figures here")
    args = ap.parse_args(argv)
    bucket = args.bucket or max(1, args.n // 10)

    state = Path(tempfile.mkdtemp(prefix="dealreg-load-"))
    port, moto_port = free_port(), free_port()
    log = open(state / "suite.log", "wb")  # noqa: SIM115 - the suite's log for the whole run, closed at the end
    proc = start_suite(state, port, moto_port, log)
    demo = json.loads((state / "demo.json").read_text())
    base = f"http://127.0.0.1:{port}"
    rng = random.Random(13)
    names = [company(rng, i) for i in range(args.n)]

    samples: list[tuple[float, float]] = []  # (seconds since start, RSS MiB)
    stop = threading.Event()
    t0 = time.monotonic()

    def sample_rss() -> None:
        while not stop.is_set():
            samples.append((time.monotonic() - t0, rss_mb(proc.pid)))
            stop.wait(1.0)

    sampler = threading.Thread(target=sample_rss, daemon=True)
    sampler.start()
    results: list[tuple[int, float, float, int, str]] = [None] * args.n  # type: ignore[list-item]
    progress: list[tuple[float, float]] = []

    def one(i: int) -> None:
        body = json.loads(json.dumps(EXAMPLE))
        body["data"]["customer"] = {"name": names[i], "country": "CN", "region": "广东省深圳市"}
        body["data"]["external_ref"] = f"load-{i}"
        body["timestamp"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())  # the file's is refused a year on
        raw = json.dumps(body, ensure_ascii=False).encode()
        msg_id, ts = f"msg_load_{i}", int(time.time())
        headers = {"Content-Type": "application/json", "webhook-id": msg_id, "webhook-timestamp": str(ts),
                   "webhook-signature": sign(demo["secret"], msg_id, ts, raw)}
        start = time.monotonic()
        try:
            status, answer = request(f"{base}/v1/partners/demo/opportunities", raw, headers)
        except OSError as exc:
            status, answer = 0, str(exc).encode()
        end = time.monotonic()
        reg_id = ""
        if status == 202:
            reg_id = json.loads(answer)["id"]
        results[i] = (status, (end - start) * 1000, end - t0, i, reg_id)

    try:
        with ThreadPoolExecutor(args.workers) as pool:
            list(pool.map(one, range(args.n)))
        posted_at = time.monotonic() - t0
        # The pipeline: wait until the last accepted registration left `submitted` (dedup + checks done),
        # and note every 30 s how far it got (share of every 20th registration no longer `submitted`).
        last = next((r[4] for r in reversed(results) if r[4]), None)
        drained_at = None
        key = demo["api_key"]
        sample_ids = [r[4] for r in results[::20] if r[4]]
        progress: list[tuple[float, float]] = []

        def status_of(reg_id: str) -> str | None:
            status, answer = request(f"{base}/v1/registrations/{reg_id}", None, {"Authorization": f"Bearer {key}"})
            return json.loads(answer)["status"] if status == 200 else None

        next_progress = 0.0
        while last and time.monotonic() - t0 - posted_at < args.drain_timeout:
            if status_of(last) not in (None, "submitted"):
                drained_at = time.monotonic() - t0
                break
            if time.monotonic() >= next_progress:
                done = sum(status_of(r) not in (None, "submitted") for r in sample_ids)
                progress.append((round(time.monotonic() - t0), round(done / max(1, len(sample_ids)), 3)))
                print(f"pipeline at {progress[-1][0]} s: {progress[-1][1]:.0%} of sampled registrations checked",
                      flush=True)
                next_progress = time.monotonic() + 30
            time.sleep(2)
        final_rss = rss_mb(proc.pid)
    finally:
        stop.set()
        sampler.join()
        proc.terminate()
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()

    rows = []
    print(f"# {args.n} registrations, {args.workers} workers, {os.cpu_count()} CPUs, {platform.python_version()}")
    print("| requests | median ms | p95 ms | max ms | non-202 | RSS MiB at end |")
    print("|---|---|---|---|---|---|")
    for lo in range(0, args.n, bucket):
        chunk = results[lo:lo + bucket]
        lat = sorted(r[1] for r in chunk)
        end = max(r[2] for r in chunk)
        rss = max((m for t, m in samples if t <= end), default=float("nan"))
        row = {"from": lo, "to": lo + len(chunk), "median_ms": statistics.median(lat),
               "p95_ms": lat[int(0.95 * (len(lat) - 1))], "max_ms": lat[-1],
               "non_202": sum(r[0] != 202 for r in chunk), "rss_mb": rss}
        rows.append(row)
        print(f"| {lo + 1}-{lo + len(chunk)} | {row['median_ms']:.0f} | {row['p95_ms']:.0f} | {row['max_ms']:.0f} | "
              f"{row['non_202']} | {rss:.0f} |")
    statuses: dict[int, int] = {}
    for r in results:
        statuses[r[0]] = statuses.get(r[0], 0) + 1
    peak = max((m for _, m in samples), default=float("nan"))
    summary = {"n": args.n, "workers": args.workers, "answers": statuses, "post_seconds": round(posted_at, 1),
               "pipeline_drained_seconds": round(drained_at, 1) if drained_at else None,
               "rss_peak_mb": round(peak), "rss_final_mb": round(final_rss), "buckets": rows,
               "pipeline_progress": progress}
    print(f"answers {statuses}; posted in {posted_at:.0f} s; pipeline drained at "
          f"{f'{drained_at:.0f} s' if drained_at else 'not within the timeout'}; RSS peak {peak:.0f} MiB, "
          f"final {final_rss:.0f} MiB")
    if args.json:
        Path(args.json).write_text(json.dumps({**summary, "rss_samples": samples}, indent=1))
    return 0 if statuses.get(202) == args.n else 1


if __name__ == "__main__":
    sys.exit(main())
