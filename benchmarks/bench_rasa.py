"""`make bench-rasa`: the built-in NLU engine against a real Rasa 3.6 server, on this machine.

Needs the Rasa virtualenv (`bash scripts/rasa-venv.sh` makes var/rasa-venv). Then:
1. trains the built-in engine on nlu/data in process (timed), and Rasa NLU on the same data with
   nlu/rasa-config.yml (`rasa train nlu`, timed, after the built-in measurements of 3 and 4), and
   records both model sizes;
2. starts `rasa run --enable-api` on 127.0.0.1 (a free port), waits for it, and measures its memory
   (RSS of the server and its children) next to a fresh process holding the built-in engine;
3. runs every case of the dev set (../shared/eval/dev.yml), as typed and with diacritics stripped,
   through the bot's pipeline with each engine, scored like `make eval` (intent accuracy; answer
   accuracy: the reply contains every `expect` entry); with Rasa the intent comes over HTTP and the
   answer from the same built-in retrieval;
4. measures parse latency: the built-in `parse` in process, Rasa's `/model/parse` over loopback
   HTTP, and `RasaEngine.parse` (HTTP + retrieval), p50 and p99.
It prints a markdown table and writes benchmarks/results/rasa.json. The Rasa server is stopped at
the end, whatever happens. Only loopback traffic; every wait is bounded.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import replace
from pathlib import Path
from typing import Any

import psutil
import yaml

from benchmarks.stats import free_port, percentile

ROOT = Path(__file__).resolve().parent.parent
RASA_VERSION = "3.6.21"
MODEL_NAME = "nlu-bench"

try:  # the scorer `make eval` uses, so that the figures mean the same
    from benchmarks.eval import satisfied, strip_diacritics
except ImportError:  # pragma: no cover - kept working if eval.py moves
    import re
    import unicodedata

    def strip_diacritics(text: str) -> str:
        text = text.replace("đ", "d").replace("Đ", "D")
        return unicodedata.normalize(
            "NFC",
            "".join(
                c for c in unicodedata.normalize("NFD", text) if unicodedata.category(c) != "Mn"
            ),
        )

    def satisfied(expect: list[str], reply: str) -> bool:
        def loose(t: str) -> str:
            return re.sub(r"\s+", " ", strip_diacritics(t).lower()).strip()

        r = loose(reply)
        return all(any(loose(alt) in r for alt in entry.split("|")) for entry in expect)


def log(msg: str) -> None:
    print(f"[bench-rasa {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def dir_size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def tree_rss(proc: psutil.Process) -> int:
    """RSS of a process and all its children, in bytes."""
    total = 0
    for p in [proc, *proc.children(recursive=True)]:
        try:
            total += p.memory_info().rss
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            pass
    return total


def rasa_env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "RASA_TELEMETRY_ENABLED": "false",  # no calls home: loopback only
            "RASA_CACHE_DIRECTORY": str(ROOT / "var" / "rasa" / "cache"),
            "TF_CPP_MIN_LOG_LEVEL": "2",
            "SQLALCHEMY_SILENCE_UBER_WARNING": "1",
            "PYTHONWARNINGS": "ignore",
        }
    )
    return env


# -- training --------------------------------------------------------------------------------------


def train_builtin(data: Path, out: Path) -> dict[str, Any]:
    from nlu.engine import train

    log(f"training the built-in engine on {data.relative_to(ROOT)} ...")
    started = time.perf_counter()
    report = train([data], out)
    seconds = time.perf_counter() - started
    log(report.summary())
    return {
        "seconds": round(seconds, 2),
        "examples": report.examples,
        "intents": len(report.intents),
        "model_bytes": out.stat().st_size,
        "model": str(out.relative_to(ROOT)),
    }


def train_rasa(
    rasa: Path, data: Path, config: Path, out_dir: Path, timeout: float, reuse: bool
) -> dict[str, Any]:
    model = out_dir / f"{MODEL_NAME}.tar.gz"
    meta = out_dir / f"{MODEL_NAME}.train.json"
    inputs = [config, *sorted(data.rglob("*.yml")), *sorted(data.rglob("*.yaml"))]
    if (
        reuse
        and model.is_file()
        and meta.is_file()
        and model.stat().st_mtime > max(p.stat().st_mtime for p in inputs)
    ):
        info = json.loads(meta.read_text())
        log(f"reusing {model.relative_to(ROOT)} (trained in {info['seconds']} s; --reuse-model)")
        return {**info, "reused": True}
    out_dir.mkdir(parents=True, exist_ok=True)
    train_log = out_dir.parent / "train.log"
    cmd = [
        str(rasa),
        "train",
        "nlu",
        "--nlu",
        str(data),
        "--config",
        str(config),
        "--out",
        str(out_dir),
        "--fixed-model-name",
        MODEL_NAME,
    ]
    log(
        f"training Rasa NLU ({config.relative_to(ROOT)}; a few minutes on 2 cores; "
        f"log {train_log.relative_to(ROOT)}) ..."
    )
    # Rasa 3 caches trained components by fingerprint: a fresh, empty cache times a real training.
    cache = tempfile.TemporaryDirectory(prefix="train-cache-", dir=out_dir.parent)
    env = {**rasa_env(), "RASA_CACHE_DIRECTORY": cache.name}
    started = time.perf_counter()
    with cache, open(train_log, "wb") as fh:
        proc = subprocess.Popen(
            cmd,
            cwd=ROOT,
            env=env,
            stdout=fh,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        peak = 0
        try:
            ps = psutil.Process(proc.pid)
            while proc.poll() is None:
                if time.perf_counter() - started > timeout:
                    raise TimeoutError(f"rasa train did not finish within {timeout:.0f} s")
                try:
                    peak = max(peak, tree_rss(ps))
                except psutil.NoSuchProcess:
                    pass
                time.sleep(0.5)
        finally:
            stop_group(proc, "rasa train")
    seconds = time.perf_counter() - started
    if proc.returncode != 0 or not model.is_file():
        tail = train_log.read_text(errors="replace").splitlines()[-25:]
        raise RuntimeError(f"rasa train failed (exit {proc.returncode}):\n" + "\n".join(tail))
    info = {
        "seconds": round(seconds, 1),
        "model_bytes": model.stat().st_size,
        "model": str(model.relative_to(ROOT)),
        "peak_rss_bytes": peak,
    }
    meta.write_text(json.dumps(info))
    log(f"Rasa trained in {seconds:.0f} s: {model.stat().st_size / 1e6:.1f} MB")
    return info


# -- the Rasa server -------------------------------------------------------------------------------


def stop_group(proc: subprocess.Popen, name: str, grace: float = 20.0) -> None:
    """Stop a process we started (and its children, in its own session): SIGTERM, then SIGKILL."""
    if proc.poll() is not None:
        return
    try:
        pgid = os.getpgid(proc.pid)
    except ProcessLookupError:
        return
    if pgid != proc.pid:  # started with start_new_session=True, so it leads its own group
        proc.terminate()
    else:
        os.killpg(pgid, signal.SIGTERM)
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        log(f"{name} ignored SIGTERM for {grace:.0f} s: killing it")
        if pgid == proc.pid:
            os.killpg(pgid, signal.SIGKILL)
        else:
            proc.kill()
        proc.wait(timeout=10)


def http_get(url: str, timeout: float = 2.0) -> tuple[int, str]:
    with urllib.request.urlopen(url, timeout=timeout) as resp:
        return resp.status, resp.read().decode("utf-8", "replace")


def start_rasa(
    rasa: Path, model: Path, port: int, log_path: Path, timeout: float
) -> tuple[subprocess.Popen, float]:
    cmd = [
        str(rasa),
        "run",
        "--enable-api",
        "-m",
        str(model),
        "-i",
        "127.0.0.1",
        "-p",
        str(port),
        "--response-timeout",
        "60",
    ]
    log(f"starting rasa run on 127.0.0.1:{port} (log {log_path.relative_to(ROOT)}) ...")
    fh = open(log_path, "wb")
    started = time.perf_counter()
    proc = subprocess.Popen(
        cmd,
        cwd=ROOT,
        env=rasa_env(),
        stdout=fh,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    proc._bench_log = fh  # type: ignore[attr-defined]
    try:
        ready = _wait_ready(proc, f"http://127.0.0.1:{port}", log_path, started, timeout)
    except BaseException:
        stop_group(proc, "rasa run")
        fh.close()
        raise
    return proc, ready


def _wait_ready(
    proc: subprocess.Popen, base: str, log_path: Path, started: float, timeout: float
) -> float:
    while True:
        if proc.poll() is not None:
            tail = log_path.read_text(errors="replace").splitlines()[-25:]
            raise RuntimeError(
                f"rasa run exited with {proc.returncode} before it answered:\n" + "\n".join(tail)
            )
        if time.perf_counter() - started > timeout:
            raise TimeoutError(f"rasa run did not answer on {base} within {timeout:.0f} s")
        try:
            status, text = http_get(base + "/status")
            if status == 200 and (
                json.loads(text).get("model_file") or json.loads(text).get("model_id")
            ):
                break
        except (urllib.error.URLError, ConnectionError, TimeoutError, OSError, ValueError):
            pass
        time.sleep(0.5)
    ready = time.perf_counter() - started
    log(f"Rasa answers after {ready:.1f} s: {http_get(base + '/')[1].strip()}")
    return ready


# -- evaluation ------------------------------------------------------------------------------------


async def run_cases(services, cases: list[dict], strip: bool) -> dict[str, Any]:
    """Every case as a fresh user through the pipeline, like `python -m bot ask` (make eval)."""
    from bot.app import build_pipeline
    from bot.messages import IncomingMessage, render_numbered

    pipeline = build_pipeline(services)
    intent_ok = answer_ok = answer_n = 0
    misses: list[dict[str, Any]] = []
    tag = "s" if strip else "t"
    for n, case in enumerate(cases):
        text = strip_diacritics(case["text"]) if strip else case["text"]
        msg = IncomingMessage(
            channel="ask",
            sender_id=f"bench-{tag}-{n}",
            message_id=f"bench-{tag}-{n}",
            text=text,
            locale_hint=case.get("lang") or "vi",
        )
        turn = await pipeline.handle(msg)
        intent = turn.intent or "out_of_scope"
        ok_i = intent == case["intent"]
        intent_ok += ok_i
        ok_a = True
        if case.get("expect"):
            answer_n += 1
            ok_a = satisfied(case["expect"], "\n".join(render_numbered(r) for r in turn.replies))
            answer_ok += ok_a
        if not (ok_i and ok_a):
            misses.append(
                {
                    "text": text,
                    "want": case["intent"],
                    "got": intent,
                    "answer_id": turn.answer_id,
                    "answer_ok": ok_a,
                }
            )
    return {
        "cases": len(cases),
        "intent_accuracy": round(intent_ok / len(cases), 4),
        "answer_accuracy": round(answer_ok / answer_n, 4) if answer_n else None,
        "answer_cases": answer_n,
        "misses": misses,
    }


async def evaluate_engine(settings, nlu, cases: list[dict]) -> dict[str, Any]:
    from bot.app import build_services
    from bot.storage.db import create_schema

    services, engine = build_services(settings, database_url="sqlite+aiosqlite:///:memory:")
    await create_schema(engine)
    if nlu is not None:
        old, services.nlu = services.nlu, nlu
        if hasattr(old, "close"):
            await old.close()
    try:
        return {
            "typed": await run_cases(services, cases, strip=False),
            "stripped": await run_cases(services, cases, strip=True),
        }
    finally:
        await engine.dispose()


def summarize(per_text: list[list[float]]) -> dict[str, float]:
    """Latency figures in ms. p50/p99 are taken over each message's median of its repeats: the
    machine is shared (2 cores), and a single call's tail is mostly the scheduler, not the engine.
    raw_p50/raw_p99 are over every call, noise included."""
    medians = [statistics.median(xs) for xs in per_text if xs]
    calls = [x for xs in per_text for x in xs]
    return {
        "p50": round(percentile(medians, 0.5), 3),
        "p99": round(percentile(medians, 0.99), 3),
        "raw_p50": round(percentile(calls, 0.5), 3),
        "raw_p99": round(percentile(calls, 0.99), 3),
        "mean": round(statistics.fmean(calls), 3),
        "max": round(max(calls), 3),
        "calls": len(calls),
        "messages": len(medians),
    }


def latency_builtin(
    engine, texts: list[str], repeats: int
) -> tuple[list[list[float]], list[list[float]]]:
    """Per message: wall-clock ms of each call, and the CPU time this thread spent in it (which a
    busy machine's scheduler does not inflate)."""
    for t in texts[:20]:
        engine.parse_sync(t, "vi")  # warm caches
    wall: list[list[float]] = [[] for _ in texts]
    cpu: list[list[float]] = [[] for _ in texts]
    for _ in range(repeats):
        for i, t in enumerate(texts):
            c0 = time.thread_time_ns()
            started = time.perf_counter_ns()
            engine.parse_sync(t, "vi")
            wall[i].append((time.perf_counter_ns() - started) / 1e6)
            cpu[i].append((time.thread_time_ns() - c0) / 1e6)
    return wall, cpu


async def latency_rasa(
    rasa_engine, texts: list[str], repeats: int
) -> tuple[list[list[float]], list[list[float]], int]:
    """(raw /model/parse round trips, RasaEngine.parse incl. retrieval) per message in ms, and
    failures."""
    from nlu.rasa_backend import RasaError

    for t in texts[:20]:
        await rasa_engine.parse(t, "vi")  # warm up TensorFlow and the connection pool
    http: list[list[float]] = [[] for _ in texts]
    full: list[list[float]] = [[] for _ in texts]
    failures = 0
    for _ in range(repeats):
        for i, t in enumerate(texts):
            sent = (rasa_engine.normalizer(t).text or t) if rasa_engine.send == "normalized" else t
            started = time.perf_counter_ns()
            try:
                await rasa_engine.rasa_parse(sent)
            except RasaError:
                failures += 1
            http[i].append((time.perf_counter_ns() - started) / 1e6)
            before = rasa_engine.failures
            started = time.perf_counter_ns()
            await rasa_engine.parse(t, "vi")
            full[i].append((time.perf_counter_ns() - started) / 1e6)
            failures += rasa_engine.failures > before
    return http, full, failures


BUILTIN_MEMORY_SNIPPET = r"""
import gc, json, sys, psutil
proc = psutil.Process()
import bot.content, nlu.engine  # the imports any bot process has anyway
gc.collect(); base = proc.memory_info().rss
content = bot.content.load_content(sys.argv[1])
engine = nlu.engine.BuiltinEngine.load(sys.argv[2], content.items)
for t in json.loads(sys.argv[3]):
    engine.parse_sync(t, "vi")
gc.collect(); rss = proc.memory_info().rss
print(json.dumps({"rss_bytes": rss, "engine_bytes": rss - base}))
"""


def builtin_memory(model: Path, texts: list[str]) -> dict[str, int]:
    """RSS of a fresh Python process that loaded the content and the built-in engine and parsed the
    set."""
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            BUILTIN_MEMORY_SNIPPET,
            str(ROOT / "content"),
            str(model),
            json.dumps(texts, ensure_ascii=False),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


# -- report ----------------------------------------------------------------------------------------


def mb(n: float | None) -> str:
    return "–" if n is None else f"{n / 1e6:.1f} MB" if n < 1e9 else f"{n / 1e9:.2f} GB"


def pct(x: float | None) -> str:
    return "–" if x is None else f"{x:.3f}"


def ms(x: float) -> str:
    return f"{x:.2f} ms" if x < 10 else f"{x:.1f} ms"


def write_doc_section(table: str, result: dict[str, Any]) -> None:
    """Put the comparison into docs/benchmarks.md between the rasa markers (`make bench` keeps
    it)."""
    from benchmarks.run import DOC, RASA_BEGIN, RASA_END, machine

    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    section = (
        f"{RASA_BEGIN}\nLatest `make bench-rasa`: **{when}** on {machine()}.\n\n{table}\n{RASA_END}"
    )
    text = DOC.read_text(encoding="utf-8") if DOC.is_file() else "# Benchmarks\n\n"
    if RASA_BEGIN in text and RASA_END in text:
        text = (
            text[: text.index(RASA_BEGIN)] + section + text[text.index(RASA_END) + len(RASA_END) :]
        )
    else:
        text = (
            text.rstrip()
            + "\n\n## Built-in NLU against a Rasa 3.6 server (`make bench-rasa`)\n\n"
            + section
            + "\n"
        )
    DOC.write_text(text, encoding="utf-8")


def markdown(r: dict[str, Any]) -> str:
    b, ra = r["builtin"], r["rasa"]
    rows = [
        (
            "Intent accuracy, dev set as typed",
            pct(b["eval"]["typed"]["intent_accuracy"]),
            pct(ra["eval"]["typed"]["intent_accuracy"]),
        ),
        (
            "Answer accuracy, as typed",
            pct(b["eval"]["typed"]["answer_accuracy"]),
            pct(ra["eval"]["typed"]["answer_accuracy"]),
        ),
        (
            "Intent accuracy, diacritics stripped",
            pct(b["eval"]["stripped"]["intent_accuracy"]),
            pct(ra["eval"]["stripped"]["intent_accuracy"]),
        ),
        (
            "Answer accuracy, diacritics stripped",
            pct(b["eval"]["stripped"]["answer_accuracy"]),
            pct(ra["eval"]["stripped"]["answer_accuracy"]),
        ),
        (
            "Parse latency p50 (built-in in process; Rasa `/model/parse` over loopback HTTP; "
            "per message, median of repeats)",
            ms(b["latency_ms"]["p50"]),
            ms(ra["latency_ms"]["http"]["p50"]),
        ),
        (
            "Parse latency p99 (same)",
            ms(b["latency_ms"]["p99"]),
            ms(ra["latency_ms"]["http"]["p99"]),
        ),
        (
            "Bot-side parse p50 / p99 (Rasa: HTTP + the same retrieval)",
            f"{ms(b['latency_ms']['p50'])} / {ms(b['latency_ms']['p99'])}",
            f"{ms(ra['latency_ms']['engine']['p50'])} / {ms(ra['latency_ms']['engine']['p99'])}",
        ),
        (
            "Parse latency p99 over single calls, scheduler noise included",
            ms(b["latency_ms"]["raw_p99"]),
            ms(ra["latency_ms"]["http"]["raw_p99"]),
        ),
        (
            "CPU time per parse p50 / p99 "
            "(built-in: this thread's CPU time, immune to a busy scheduler)",
            f"{ms(b['latency_ms']['cpu']['p50'])} / {ms(b['latency_ms']['cpu']['p99'])}",
            "– (in the server)",
        ),
        (
            "Training time on nlu/data",
            f"{b['train']['seconds']:.1f} s",
            f"{ra['train']['seconds']:.0f} s"
            + (" (recorded earlier; --reuse-model)" if ra["train"].get("reused") else ""),
        ),
        ("Model size", mb(b["train"]["model_bytes"]), mb(ra["train"]["model_bytes"])),
        (
            "Memory (RSS) serving",
            f"{mb(b['memory']['rss_bytes'])} "
            f"(whole process; engine {mb(b['memory']['engine_bytes'])})",
            f"{mb(ra['memory']['rss_bytes'])} (rasa run and children)",
        ),
        (
            "Installed footprint",
            "numpy (part of the bot)",
            f"{mb(ra['venv_bytes'])} virtualenv (rasa {RASA_VERSION}, Python 3.10)",
        ),
        ("Start-up until it answers", "–", f"{ra['startup_seconds']:.0f} s"),
    ]
    cases = b["eval"]["typed"]["cases"]
    head = (
        f"Dev set: {cases} cases ({b['eval']['typed']['answer_cases']} with an expected answer), "
        "each as typed "
        f"and with diacritics stripped; {r['machine']['cpus']} CPUs, "
        f"{r['machine']['memory_gb']:.0f} GB.\n\n"
        "| | Built-in | Rasa 3.6 (DIET), same retrieval |\n|---|---|---|\n"
    )
    return head + "\n".join(f"| {a} | {x} | {y} |" for a, x, y in rows) + "\n"


def rasa_engine(settings, content, send: str):
    """A RasaEngine as `bot.app.build_nlu` builds it, sending the text as typed or normalised."""
    from nlu.rasa_backend import RasaEngine

    cfg = settings.nlu
    return RasaEngine(
        cfg.rasa_url,
        content.items,
        timeout=cfg.rasa_timeout,
        data=cfg.data,
        base_dir=settings.base_dir,
        intent_threshold=cfg.intent_threshold,
        answer_threshold=cfg.answer_threshold,
        send=send,
    )


def rasa_binary(venv: str | Path) -> Path:
    """The `rasa` executable of the Rasa virtualenv; a clear exit when it is not there."""
    rasa_bin = Path(venv) / "bin" / "rasa"
    if not rasa_bin.exists():
        raise SystemExit(
            f"bench-rasa: {rasa_bin} not found, and the rest of this benchmark needs a Rasa "
            "3.6 server: run `bash scripts/rasa-venv.sh` first (make bench-rasa does), or "
            "pass --rasa-venv"
        )
    return rasa_bin


async def async_main(args: argparse.Namespace) -> dict[str, Any]:
    from bot.config import load_settings
    from bot.content import load_content
    from nlu.engine import BuiltinEngine

    t0 = time.perf_counter()
    dev = Path(args.dev)
    cases = yaml.safe_load(dev.read_text(encoding="utf-8"))["cases"]
    if args.limit:
        cases = cases[: args.limit]
    texts = [c["text"] for c in cases] + [strip_diacritics(c["text"]) for c in cases]
    data = ROOT / "nlu" / "data"
    work = ROOT / "var" / "rasa"
    work.mkdir(parents=True, exist_ok=True)

    result: dict[str, Any] = {
        "dev_set": str(dev),
        "cases": len(cases),
        "rasa_version": RASA_VERSION,
        "machine": {
            "cpus": os.cpu_count(),
            "memory_gb": psutil.virtual_memory().total / 2**30,
            "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "rasa_config": str(Path(args.config).resolve().relative_to(ROOT)),
    }

    # 1. training the built-in engine (Rasa is trained in 3, where it is first needed)
    builtin_model = work / "builtin-model.npz"
    b_train = train_builtin(data, builtin_model)

    settings = load_settings(ROOT / "config.yml", env={})
    b_settings = replace(
        settings, nlu=replace(settings.nlu, engine="builtin", model=str(builtin_model))
    )
    content = load_content(ROOT / "content")

    # 2. built-in: accuracy, latency, memory (in process; memory in a fresh process)
    log("built-in engine: dev set through the pipeline ...")
    b_eval = await evaluate_engine(b_settings, None, cases)
    builtin = BuiltinEngine.load(
        builtin_model,
        content.items,
        intent_threshold=settings.nlu.intent_threshold,
        answer_threshold=settings.nlu.answer_threshold,
    )
    lat_b, cpu_b = latency_builtin(builtin, texts, args.builtin_repeats)
    b_mem = builtin_memory(builtin_model, texts)
    result["builtin"] = {
        "train": b_train,
        "eval": b_eval,
        "memory": b_mem,
        "latency_ms": {
            **summarize(lat_b),
            "cpu": summarize(cpu_b),
            "where": "in process, BuiltinEngine.parse_sync",
        },
    }

    # 3. Rasa: train, serve, accuracy, latency, memory — always stopped at the end
    rasa_bin = rasa_binary(args.rasa_venv)
    r_train = train_rasa(
        rasa_bin, data, Path(args.config), work / "models", args.train_timeout, args.reuse_model
    )
    port = args.port or free_port()
    proc = None
    try:
        proc, ready = start_rasa(
            rasa_bin, ROOT / r_train["model"], port, work / "server.log", args.start_timeout
        )
        ps = psutil.Process(proc.pid)
        url = f"http://127.0.0.1:{port}"
        r_settings = replace(
            settings,
            nlu=replace(settings.nlu, engine="rasa", rasa_url=url, rasa_timeout=args.rasa_timeout),
        )
        modes = {}
        for send in ("raw", "normalized"):
            eng = rasa_engine(r_settings, content, send)
            await eng.parse("xin chào", "vi")  # warm-up
            log(f"Rasa ({send} text): dev set through the pipeline ...")
            ev = await evaluate_engine(r_settings, eng, cases)
            modes[send] = {"eval": ev, "failures": eng.failures}
            await eng.close()
        eng = rasa_engine(r_settings, content, "raw")
        try:
            log("Rasa: latency ...")
            http, full, failures = await latency_rasa(eng, texts, args.rasa_repeats)
        finally:
            await eng.close()
        rss = tree_rss(ps)
        result["rasa"] = {
            "train": r_train,
            "eval": modes["raw"]["eval"],
            "eval_normalized_text": modes["normalized"]["eval"],
            "send": "raw",
            "startup_seconds": round(ready, 1),
            "memory": {"rss_bytes": rss, "processes": 1 + len(ps.children(recursive=True))},
            "latency_ms": {
                "http": summarize(http),
                "engine": summarize(full),
                "failures": failures + sum(m["failures"] for m in modes.values()),
                "where": "HTTP over 127.0.0.1, aiohttp client in this process",
            },
            "venv_bytes": dir_size(Path(args.rasa_venv)),
        }
    finally:
        if proc is not None:
            log("stopping the Rasa server ...")
            stop_group(proc, "rasa run")
            proc._bench_log.close()  # type: ignore[attr-defined]
    result["machine"]["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    result["seconds_total"] = round(time.perf_counter() - t0, 1)
    return result


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument(
        "--dev",
        default=os.environ.get("DEV_SET") or str(ROOT.parent / "shared" / "eval" / "dev.yml"),
    )
    ap.add_argument("--rasa-venv", default=str(ROOT / "var" / "rasa-venv"))
    ap.add_argument("--config", default=str(ROOT / "nlu" / "rasa-config.yml"))
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "rasa.json"))
    ap.add_argument("--port", type=int, default=0, help="port for rasa run (default: a free one)")
    ap.add_argument(
        "--reuse-model",
        action="store_true",
        help=(
            "reuse var/rasa/models/nlu-bench.tar.gz when newer than nlu/data "
            "(its recorded training time)"
        ),
    )
    ap.add_argument("--train-timeout", type=float, default=1800)
    ap.add_argument("--start-timeout", type=float, default=300)
    ap.add_argument(
        "--rasa-timeout", type=float, default=10.0, help="per-request timeout of the Rasa client"
    )
    ap.add_argument("--builtin-repeats", type=int, default=5)
    ap.add_argument("--rasa-repeats", type=int, default=3)
    ap.add_argument("--limit", type=int, default=0, help="only the first N cases (smoke runs)")
    args = ap.parse_args(argv)
    os.chdir(ROOT)

    # SIGTERM (e.g. from a CI time limit) unwinds like Ctrl+C, so the `finally` stops Rasa.
    def on_term(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, on_term)
    import logging

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    result = asyncio.run(async_main(args))
    table = markdown(result)
    result["markdown"] = table
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkstemp(dir=out.parent, suffix=".json")[1])
    tmp.write_text(json.dumps(result, ensure_ascii=False, indent=1), encoding="utf-8")
    tmp.replace(out)
    write_doc_section(table, result)
    print(table)
    ra = result["rasa"]
    alt = ra["eval_normalized_text"]
    print(
        "Rasa given the built-in normaliser's text instead of the message as typed "
        "(RasaEngine send='normalized'): "
        f"intent accuracy {pct(alt['typed']['intent_accuracy'])} (as typed) / "
        f"{pct(alt['stripped']['intent_accuracy'])} "
        f"(stripped); answer accuracy {pct(alt['typed']['answer_accuracy'])} / "
        f"{pct(alt['stripped']['answer_accuracy'])}."
    )
    if ra["latency_ms"]["failures"]:
        print(
            f"WARNING: {ra['latency_ms']['failures']} Rasa calls failed during the run "
            "(see var/rasa/server.log)"
        )
    print(f"\nWhole bench: {result['seconds_total']:.0f} s; results in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
