"""An open-loop HTTP load generator (asyncio + aiohttp): requests leave at fixed times, whatever the server does.

Request i is due at start + i / rate. Its latency is measured from that due time, not from when it was
actually sent, so a slow server (or a late generator) shows up in the figures instead of quietly lowering the
rate, the "coordinated omission" of closed-loop tools. The generator's own CPU time is measured too.
"""
import asyncio
import re
import time
from dataclasses import dataclass, field

import aiohttp
import psutil
import requests

CSRF = re.compile(r'name="csrf-token" content="([^"]+)"')


@dataclass(frozen=True)
class Target:
    """One request of the mix: a page name (for the figures), its path, and who asks (a Cookie header)."""
    page: str
    path: str
    cookie: str = ""
    htmx: bool = False
    if_none_match: str = ""  # a poll that holds this version: 304 is its answer when nothing changed


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, int(round(q / 100 * len(ordered) + 0.5)) - 1))
    return ordered[index]


def summary(latencies: list[float], errors: int = 0) -> dict:
    """Milliseconds, rounded: count, errors, p50/p95/p99/max."""
    ms = [x * 1000 for x in latencies]
    return {"count": len(ms) + errors, "errors": errors,
            **{f"p{q}_ms": round(percentile(ms, q), 2) if ms else None for q in (50, 95, 99)},
            "max_ms": round(max(ms), 2) if ms else None}


@dataclass
class LoadResult:
    rate: float
    seconds: float
    by_page: dict[str, list[float]] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)
    statuses: dict[int, int] = field(default_factory=dict)
    send_lag: list[float] = field(default_factory=list)
    generator_cpu_seconds: float = 0.0
    machine_busy_cpu_seconds: float = 0.0
    wall_seconds: float = 0.0

    @property
    def all_latencies(self) -> list[float]:
        return [x for values in self.by_page.values() for x in values]

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())

    def p99_ms(self) -> float | None:
        value = percentile(self.all_latencies, 99)
        return None if value is None else value * 1000

    def figures(self) -> dict:
        cores = psutil.cpu_count() or 1
        capacity = self.wall_seconds * cores
        return {
            "rate_per_s": self.rate, "seconds": self.seconds,
            "achieved_rate_per_s": round(sum(len(v) for v in self.by_page.values()) / self.wall_seconds, 1)
            if self.wall_seconds else 0,
            "all": summary(self.all_latencies, self.error_count),
            "pages": {page: summary(values, self.errors.get(page, 0)) for page, values in sorted(self.by_page.items())},
            "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
            "send_lag_p99_ms": round((percentile(self.send_lag, 99) or 0) * 1000, 2),
            "generator_cpu_share_pct": round(100 * self.generator_cpu_seconds / capacity, 1) if capacity else None,
            "machine_busy_pct": round(100 * self.machine_busy_cpu_seconds / capacity, 1) if capacity else None,
        }


def _busy_seconds(times) -> float:
    return times.user + times.system + getattr(times, "nice", 0) + getattr(times, "irq", 0) + \
        getattr(times, "softirq", 0)


async def _one(session: aiohttp.ClientSession, target: Target, due: float, loop, result: LoadResult) -> None:
    sent = loop.time()
    result.send_lag.append(max(0.0, sent - due))
    headers = {"Cookie": target.cookie} if target.cookie else {}
    if target.htmx:
        headers["HX-Request"] = "true"
    if target.if_none_match:
        headers["If-None-Match"] = target.if_none_match
    try:
        async with session.get(target.path, headers=headers, allow_redirects=False) as response:
            await response.read()
            status = response.status
    except (TimeoutError, aiohttp.ClientError):
        status = 0
    latency = loop.time() - due
    result.statuses[status] = result.statuses.get(status, 0) + 1
    if 200 <= status < 300 or (status == 304 and target.if_none_match):
        result.by_page.setdefault(target.page, []).append(latency)
    else:
        result.errors[target.page] = result.errors.get(target.page, 0) + 1


async def _drive(base_url: str, rate: float, seconds: float, pick, timeout: float, result: LoadResult) -> None:
    loop = asyncio.get_running_loop()
    connector = aiohttp.TCPConnector(limit=512)
    async with aiohttp.ClientSession(base_url, connector=connector, cookie_jar=aiohttp.DummyCookieJar(),
                                     timeout=aiohttp.ClientTimeout(total=timeout)) as session:
        start = loop.time() + 0.05
        tasks = []
        for i in range(int(rate * seconds)):
            due = start + i / rate
            delay = due - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(_one(session, pick(i), due, loop, result)))
        await asyncio.gather(*tasks)


def open_loop(base_url: str, rate: float, seconds: float, pick, timeout: float = 10.0) -> LoadResult:
    """Send int(rate * seconds) requests, request i at i / rate seconds; `pick(i)` says which (a Target)."""
    result = LoadResult(rate=rate, seconds=seconds)
    cpu, machine, wall = time.process_time(), psutil.cpu_times(), time.perf_counter()
    asyncio.run(_drive(base_url, rate, seconds, pick, timeout, result))
    result.wall_seconds = time.perf_counter() - wall
    result.generator_cpu_seconds = time.process_time() - cpu
    result.machine_busy_cpu_seconds = _busy_seconds(psutil.cpu_times()) - _busy_seconds(machine)
    return result


async def _login(base_url: str, email: str, password: str) -> str:
    """Log in through the real form (CSRF and all); returns the Cookie header of the logged-in session."""
    jar = aiohttp.CookieJar(unsafe=True)  # unsafe: accept cookies from an IP address (127.0.0.1)
    async with aiohttp.ClientSession(base_url, cookie_jar=jar) as session:
        async with session.get("/login") as page:
            token = CSRF.search(await page.text())
        if token is None:
            raise RuntimeError("the login page has no CSRF token")
        async with session.post("/login", data={"email": email, "password": password, "csrf_token": token.group(1)},
                                allow_redirects=False) as answer:
            if answer.status != 303:
                raise RuntimeError(f"login of {email} answered {answer.status}")
        cookies = jar.filter_cookies(base_url)
        return "; ".join(f"{name}={morsel.value}" for name, morsel in cookies.items())


def login_all(base_url: str, emails: list[str], password: str, concurrency: int = 8) -> dict[str, str]:
    async def run():
        gate = asyncio.Semaphore(concurrency)

        async def one(email):
            async with gate:
                return email, await _login(base_url, email, password)

        return dict(await asyncio.gather(*(one(e) for e in emails)))

    return asyncio.run(run())


def settle(base_url: str, path: str = "/bench-hello", quick_ms: float = 20.0, timeout: float = 60.0) -> float:
    """Wait until the server has worked off what an overloaded run left queued: three quick answers in a row.

    Without this, a run after an overloaded one measures the previous run's backlog. Returns the seconds waited.
    """
    began, quick = time.perf_counter(), 0
    with requests.Session() as session:
        while quick < 3 and time.perf_counter() - began < timeout:
            sent = time.perf_counter()
            try:
                session.get(base_url + path, timeout=timeout)
                quick = quick + 1 if (time.perf_counter() - sent) * 1000 < quick_ms else 0
            except requests.RequestException:
                quick = 0
            if quick < 3:
                time.sleep(0.2)
    return round(time.perf_counter() - began, 1)
