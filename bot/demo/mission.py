"""The demo's two scenarios and the checks that each expected step really happened.

*rollback*: v1.4.0 goes through the checklist (a waive, a refused and an accepted sign-off),
is deployed to staging and production through `/release deploy` against the loopback
Kubernetes API, and is watched by the real Prometheus probe. The scripted error ratio rises
past 1 %: the alert with its chart, the P1 incident, the page to on-call (DM and channel
mention), no ack, the Tech Lead paged 15 minutes later, an ack, Roll back by DevOps with the
private confirmation, the rollout watched to done, the release *Rolled back*.

*healthy*: the hotfix v1.4.1 is deployed the same way and stays healthy for 24 virtual hours
(polls every 5 minutes for the first hour, then every 30 minutes); the window closes, then the
On-call engineer signs off the monitoring, the lead advances and the release is *Completed*.

Every step is checked against what the simulated Discord shows (messages, DMs, attachments)
or what the database says (release status), never against the script's own intentions; a
step that did not happen is printed as ✘ and makes the demo exit 1.
"""

from __future__ import annotations

import contextlib
import itertools
import tempfile
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TextIO

import discord
import simcord

from bot.app import PROJECT_ROOT, create_bot
from bot.config import Settings
from bot.config.deploy import ServiceSettings
from bot.core.clock import FakeClock
from bot.demo.team import SERVICE, START, DemoRelease, Transcript, demo_settings
from bot.monitoring.service.use_cases import MonitoringService
from bot.releases.domain.release import ReleaseStatus
from bot.rollouts.k8s import CallPolicy, RolloutController, make_api_client
from bot.rollouts.service.deploy import DeployService
from bot.rollouts.service.rollback import RollbackService
from bot.runtime.background import Background
from bot.sandbox.kubernetes import FakeKubeApi
from bot.sandbox.metrics import MetricsSandbox, ScriptedMetric

SCENARIOS = ("rollback", "healthy", "all")
IMAGE = "ghcr.io/nexis/nexis-gateway"
RUNNING = "v1.3.2"
RELEASE = "v1.4.0"
HOTFIX = "v1.4.1"
ERROR_RATIO = 'code=~"5.."'
LATENCY = "histogram_quantile"
MINUTE = timedelta(minutes=1)
ROOM_KINDS = frozenset({"summary", "phase", "signoff"})


def error_ratio(failing: bool) -> ScriptedMetric:
    """Return the error ratio from the window's opening: rising past 1 % when `failing`.

    Polls every 5 minutes see 0.19 %, 0.42 %, then 2.7 % (first breach) and 5.1 % (the
    condition is met at its second breach); an hour in, the ratio is back to 0.24 % for good.
    """
    if not failing:
        return ScriptedMetric([(timedelta(0), 0.0021), (timedelta(hours=3), 0.0017)])
    return ScriptedMetric(
        [
            (timedelta(0), 0.0019),
            (timedelta(minutes=7), 0.0042),
            (timedelta(minutes=12), 0.027),
            (timedelta(minutes=17), 0.051),
            (timedelta(minutes=60), 0.0024),
        ]
    )


@dataclass
class Step:
    """One expected step and whether the simulated Discord / the database showed it."""

    name: str
    ok: bool
    detail: str = ""


@dataclass
class Seen:
    """A message a person saw, with where and when (virtual time)."""

    where: str
    at: datetime
    message: discord.Message


class VirtualSleep:
    """The rollout controller's pause: move the demo clock, never wait."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock

    async def __call__(self, seconds: float) -> None:
        """Advance the clock by `seconds` and let other tasks run."""
        import asyncio

        self.clock.advance(seconds)
        await asyncio.sleep(0)


@dataclass
class Mission:
    """The running demo: the team, the sandboxes, what was seen and the steps checked."""

    team: DemoRelease
    clock: FakeClock
    metrics: MetricsSandbox
    kube: FakeKubeApi
    manifests: Path
    out_dir: Path
    steps: list[Step] = field(default_factory=list)
    seen: list[Seen] = field(default_factory=list)
    _known: dict[int, str] = field(default_factory=dict)
    charts: list[Path] = field(default_factory=list)
    _charts: set[bytes] = field(default_factory=set)

    @property
    def out(self) -> Transcript:
        """Return the transcript."""
        return self.team.out

    def check(self, name: str, ok: bool, detail: str = "") -> bool:
        """Record an expected step; print it when it failed."""
        self.steps.append(Step(name, ok, detail))
        if not ok:
            self.out.say("demo", f"✘ expected step did not happen: {name} {detail}".rstrip())
        return ok

    # -- what people see ------------------------------------------------------------------

    def _places(self) -> list[tuple[str, Any]]:
        places: list[tuple[str, Any]] = [(f"#{self.team.channel.name}", self.team.channel)]
        places += [(f"#{t.name}", t) for t in self.team.channel.threads]
        for shown, member in self.team.people.items():
            dm = member.user.dm_channel
            if dm is not None:
                places.append((f"DM to {shown}", dm))
        return places

    async def _room_ids(self) -> set[int]:
        refs = await self.team.bot.releases.messages(self.team.release_id)
        return {r.message_id for r in refs if r.kind in ROOM_KINDS}

    def gist(self, message: discord.Message) -> str:
        """Return a message's first line as a person reads it (mentions as names)."""
        text = _gist(message)
        for mention, name in self.team.names.items():
            text = text.replace(mention, name)
        return text

    async def look(self, *, quiet: bool = False) -> None:
        """Print one line per new (or changed) message a person would notice; keep charts.

        The room's own messages (summary, phases, sign-offs) are described by the team's
        actions instead; `quiet` only records what is there (the actor already told it).
        """
        room = await self._room_ids()
        lines: dict[tuple[str, str], list[str]] = {}
        for where, place in self._places():
            for message in place.history():
                if message.id in room or message.type is not discord.MessageType.default:
                    continue
                text = self.gist(message)
                if self._known.get(message.id) == text:
                    continue
                edited = message.id in self._known
                self._known[message.id] = text
                self.seen.append(Seen(where, self.clock.now(), message))
                charts = await self._keep_charts(message)
                if not quiet:
                    verb = "edits" if edited else "posts"
                    lines.setdefault((verb, text + charts), []).append(where)
        for (verb, text), places in lines.items():
            self.out.say("bot", f"{verb} in {' and '.join(dict.fromkeys(places))}: {text}")

    async def _keep_charts(self, message: discord.Message) -> str:
        shown = ""
        for attachment in message.attachments:
            if not attachment.filename.endswith(".png"):
                continue
            shown = f" [chart {attachment.filename}]"
            content = await attachment.read()
            if content in self._charts:
                continue
            self._charts.add(content)
            path = self.out_dir / f"{len(self.charts) + 1:02d}-{attachment.filename}"
            path.write_bytes(content)
            self.charts.append(path)
            shown = f" [chart {attachment.filename}, saved as {path}]"
        return shown

    def saw(self, where: str, predicate: Callable[[str], bool]) -> list[Seen]:
        """Return what was seen in places starting with `where` whose gist matches."""
        return [
            s for s in self.seen if s.where.startswith(where) and predicate(self.gist(s.message))
        ]

    def current(self, seen: Seen) -> discord.Message:
        """Return a seen message as its channel shows it now (edits included)."""
        for _where, place in self._places():
            for message in place.history():
                if message.id == seen.message.id:
                    found: discord.Message = message
                    return found
        return seen.message

    def with_button(self, where: str, label: str) -> discord.Message | None:
        """Return the newest message seen in `where` that now has a `label` button."""
        for seen in reversed(self.seen):
            if seen.where.startswith(where) and _button(self.current(seen), label):
                return self.current(seen)
        return None

    async def settle(self) -> None:
        """Let rollouts finish, deliver what is due, let the room catch up, then look."""
        bot = self.team.bot
        for _ in range(3):
            await bot.handle(RollbackService).settle()
            await bot.handle(DeployService).settle()
            await bot.handle(Background).pump()
        await bot.room.updater.wait_idle(5)
        await self.look()

    async def wait(self, until: datetime, every: timedelta = MINUTE) -> None:
        """Let virtual time pass to `until` in steps of `every`, running what falls due."""
        while self.clock.now() < until:
            self.clock.set(min(until, self.clock.now() + every))
            await self.settle()

    # -- the people's actions -------------------------------------------------------------

    async def deploy(self, who: str, environment: str, version: str) -> None:
        """Run `/release deploy <environment>` as `who` and watch the rollout to its end."""
        self._write_manifests(version)
        self.team.step()
        self.out.say(who, f"/release deploy environment:{environment}")
        person = self.team.people[who]
        result = await person.slash(self.team.thread(), "release deploy", environment=environment)
        answer = result.response.content if result.response else "(no answer)"
        self.out.say("bot", f"(only {who} sees) {answer}")
        if result.response is not None and result.response.components:
            self.out.say(who, "presses Confirm deploy")
            confirmed = await person.click(result.response, label="Confirm deploy")
            answer = confirmed.response.content if confirmed.response else "(no answer)"
            self.out.say("bot", f"(only {who} sees) {answer}")
        await self.settle()
        image = self.kube.cluster.deployment(environment, SERVICE)["spec"]["template"]["spec"]
        running = image["containers"][0]["image"]
        self.check(
            f"{environment} runs {version}",
            running == f"{IMAGE}:{version}",
            f"(the cluster runs {running})",
        )

    def _write_manifests(self, version: str) -> None:
        for env in ("staging", "production"):
            for source in (PROJECT_ROOT / "k8s" / env).iterdir():
                if not source.is_file():
                    continue  # cluster-policy/ (the PodDisruptionBudget) is not the bot's
                text = source.read_text(encoding="utf-8")
                text = text.replace(f"{IMAGE}:v1.0.0", f"{IMAGE}:{version}")
                (self.manifests / env / source.name).write_text(text, encoding="utf-8")

    async def click(self, who: str, message: discord.Message, label: str) -> Any:
        """Click the button labelled `label` on `message` as `who`."""
        self.team.step()
        self.out.say(who, f"clicks {label} on “{self.gist(message)[:70]}”")
        return await self.team.people[who].click(message, label=label)

    async def window_opened_at(self) -> datetime:
        """Return when the release's monitoring window opened (the database says)."""
        view = await self.team.bot.handle(MonitoringService).window_view(
            release_id=self.team.release_id
        )
        opened: datetime = view.record.window.opened_at
        return opened


def _gist(message: discord.Message) -> str:
    content = message.content.split("\n")[0] if message.content else ""
    parts = [content]
    if message.embeds and len(content) < 60:
        embed = message.embeds[0]
        parts.append(embed.title or (embed.description or "").split("\n")[0])
    return " — ".join(p for p in parts if p).strip() or "(empty message)"


def _button(message: discord.Message, label: str) -> bool:
    return any(
        getattr(c, "label", None) == label
        for row in message.components
        for c in getattr(row, "children", [])
    )


async def checklist_to_production(m: Mission, version: str, *, teaching: bool) -> None:
    """Walk the checklist of the current release up to Post-Release, deploying for real."""
    team, out = m.team, m.out
    out.note(f"{version}: Pre-Release Preparation")
    if teaching:
        await team.advance("Ann")  # too early: the bot lists the open gates
        await m.look(quiet=True)
        await team.waive("Tom", "Migration Guide", f"no breaking changes in {version}")
        await m.look(quiet=True)
    await team.tick_phase("Ann")
    await m.look(quiet=True)
    await team.sign("Ann", "pre-release")
    await m.look(quiet=True)
    await team.advance("Ann")
    await m.look(quiet=True)
    out.note(f"{version}: Release Process")
    await team.tick_phase("Ann")
    await m.look(quiet=True)
    await team.advance("Ann")
    await m.look(quiet=True)
    out.note(f"{version}: Deployment")
    await m.deploy("Dora", "staging", version)
    await team.tick_phase("Dora")
    await m.look(quiet=True)
    if teaching:
        await team.sign("Eve", "approval")  # a developer cannot approve the release
        await m.look(quiet=True)
    await team.sign("Tom", "approval")
    await m.look(quiet=True)
    release = await team.bot.releases.get(team.release_id)
    if release.window is not None:
        out.say("bot", f"deployment window: {release.window}")
    await m.deploy("Dora", "production", version)
    await team.tick_phase("Dora")
    await m.look(quiet=True)
    await team.sign("Dora", "production-deployed")
    await m.look(quiet=True)
    await team.advance("Ann")
    await m.look(quiet=True)
    await m.settle()
    out.note(f"{version}: Post-Release — monitoring")


async def rollback_scenario(m: Mission) -> None:
    """v1.4.0: breach, alert, incident, paging, escalation, ack, rollback, Rolled back."""
    team, out = m.team, m.out
    out.note(f"{RELEASE}: a release that goes wrong")
    await team.start("Ann", RELEASE, window=_window(m.clock.now()))
    await m.look(quiet=True)
    await checklist_to_production(m, RELEASE, teaching=True)
    opened = await m.window_opened_at()
    m.metrics.start_at = opened
    await m.wait(opened + timedelta(minutes=21))
    alerts = m.saw("#", lambda t: "Rollback condition met" in t)
    m.check("the alert: rollback condition met", bool(alerts))
    charted = [s for s in m.seen if any(a.filename.endswith(".png") for a in s.message.attachments)]
    m.check("the alert carries its chart (a PNG in Discord)", bool(charted))
    m.check("a P1 incident", bool(m.saw("#", lambda t: "P1" in t and "ncident" in t)))
    omar = team.people["Omar"]
    m.check("on-call paged by DM", bool(m.saw("DM to Omar", lambda t: True)))
    m.check(
        "on-call mentioned in the channel",
        bool(m.saw("#", lambda t: omar.user.mention in t or "@Omar" in t)),
    )
    paged = m.seen[-1].at if m.seen else m.clock.now()
    first_page = m.saw("DM to Omar", lambda t: True)
    if first_page:
        paged = first_page[0].at
    out.note("nobody acknowledges…")
    await m.wait(paged + timedelta(minutes=16))
    tom = m.saw("DM to Tom", lambda t: True)
    m.check(
        "the Tech Lead paged 15 minutes after on-call",
        bool(tom) and timedelta(minutes=15) <= tom[0].at - paged < timedelta(minutes=16),
        f"(paged on-call at {paged:%H:%M}, the Tech Lead at {tom[0].at:%H:%M})"
        if tom
        else "(the Tech Lead got no DM)",
    )
    page = m.with_button("#", "Acknowledge")
    m.check("the page has an Acknowledge button", page is not None)
    if page is None:
        return
    await m.click("Omar", page, "Acknowledge")
    await m.settle()
    m.check("the ack is shown", bool(m.saw("#", lambda t: "cknowledged" in t)))
    alert = m.with_button("#", "Roll back")
    m.check("a Roll back button in the channel or the room", alert is not None)
    if alert is None:
        return
    asked = await m.click("Dora", alert, "Roll back")
    confirm = asked.response
    shown = confirm.content if confirm is not None else "(no answer)"
    out.say("bot", f"(only Dora sees) {shown}")
    m.check("the rollback asks DevOps to confirm, privately", bool(asked.ephemeral and confirm))
    if confirm is None:
        return
    done = await m.click("Dora", confirm, "Confirm rollback")
    if done.response is not None:
        out.say("bot", f"(only Dora sees) {done.response.content}")
    await m.settle()
    release = await team.bot.releases.get(team.release_id)
    m.check(
        "the rollout watched to done",
        bool(m.saw("#", lambda t: t.startswith("✅ Rollback of") and "succeeded" in t)),
    )
    m.check(
        "the release is Rolled back (database)",
        release.status is ReleaseStatus.ROLLED_BACK,
        f"(status {release.status.value})",
    )
    running = m.kube.cluster.deployment("production", SERVICE)["spec"]["template"]["spec"]
    m.check(
        f"production runs {RUNNING} again",
        running["containers"][0]["image"] == f"{IMAGE}:{RUNNING}",
    )
    # v1.3.2 serves again: from now on the scripted ratio is its healthy 0.24 %.
    m.metrics.start_at = min(m.metrics.start_at, m.clock.now() - timedelta(hours=1))
    incident = m.with_button("#", "Resolve")
    if m.check("the incident can be resolved", incident is not None) and incident is not None:
        shown = await m.click("Omar", incident, "Resolve")
        note = f"rolled back to {RUNNING}; the 5xx came from v1.4.0's connection pool"
        if shown.modal is not None:
            field = shown.modal["components"][0]["components"][0]["custom_id"]
            out.say("Omar", f"writes in “What fixed it?”: {note}")
            told = await team.people["Omar"].submit_modal(shown, {field: note})
            for followup in told.followups:
                out.say("bot", f"(only Omar sees) {followup.content}")
        await m.settle()
        m.check("the incident is resolved", bool(m.saw("#", lambda t: "🟢" in t or "esolved" in t)))
    out.say("demo", f"Release {release.name}: {_status(release.status)}")


async def healthy_scenario(m: Mission) -> None:
    """v1.4.1: deployed, healthy for 24 h, window closed, monitoring sign-off, Completed."""
    team, out = m.team, m.out
    out.note(f"{HOTFIX}: the hotfix, watched for 24 hours")
    await team.start("Ann", HOTFIX, window=_window(m.clock.now()))
    await m.look(quiet=True)
    await checklist_to_production(m, HOTFIX, teaching=False)
    opened = await m.window_opened_at()
    before = len(m.metrics.evaluations)
    await m.wait(opened + timedelta(hours=1))
    first_hour = _poll_times(m, before)
    out.say("demo", f"{len(first_hour)} polls in the first hour, every {_gap(first_hour)}")
    await m.wait(opened + timedelta(hours=24, minutes=1), every=timedelta(minutes=30))
    later = _poll_times(m, before)[len(first_hour) :]
    out.say("demo", f"{len(later)} polls in the next 23 hours, every {_gap(later)}")
    m.check("polls every 5 minutes in the first hour", _gap(first_hour) == "5 min")
    m.check("then every 30 minutes", _gap(later) == "30 min")
    m.check(
        "no alert for the hotfix",
        not m.saw(f"#{SERVICE} {HOTFIX}", lambda t: "Rollback condition met" in t),
    )
    closed = m.saw(f"#{SERVICE} {HOTFIX}", lambda t: "monitoring of" in t and "is over" in t)
    m.check("the 24-hour window closes", bool(closed))
    await team.tick_phase("Omar")
    await m.look(quiet=True)
    await team.sign("Omar", "monitoring-complete")
    await m.look(quiet=True)
    await team.advance("Ann")
    await m.look(quiet=True)
    await m.settle()
    release = await team.bot.releases.get(team.release_id)
    m.check(
        "the release is Completed (database)",
        release.status is ReleaseStatus.COMPLETED,
        f"(status {release.status.value})",
    )
    m.check("the closing summary is posted", bool(m.saw("#", lambda t: "Completed" in t)))
    out.say("demo", f"Release {release.name}: {_status(release.status)}")


def _poll_times(m: Mission, since: int) -> list[datetime]:
    times: list[datetime] = []
    for evaluation in m.metrics.evaluations[since:]:
        if ERROR_RATIO in evaluation.query and evaluation.at not in times:
            times.append(evaluation.at)
    return times


def _gap(times: list[datetime]) -> str:
    gaps = {round((b - a).total_seconds() / 60) for a, b in itertools.pairwise(times)}
    if len(gaps) != 1:
        return "irregularly" if gaps else "(no polls)"
    return f"{next(iter(gaps))} min"


def _window(now: datetime) -> str:
    return f"{now:%Y-%m-%d} {now:%H}:00-{(now + timedelta(hours=4)):%H}:00 UTC"


def _status(status: ReleaseStatus) -> str:
    return status.value.replace("_", " ").capitalize()


def mission_settings(settings: Settings, prometheus_url: str, manifests: Path) -> Settings:
    """Point the demo service at the sandboxes: metrics, manifests; no kubelet availability."""
    service = ServiceSettings.model_validate(
        {
            "name": SERVICE,
            "prometheus_url": prometheus_url,
            "kubernetes": {
                env: {"namespace": env, "deployment": SERVICE, "manifests": str(manifests / env)}
                for env in ("staging", "production")
            },
            "conditions": {"availability": {"enabled": False}},
        }
    )
    return settings.model_copy(update={"services": [service]})


@contextlib.asynccontextmanager
async def launch(
    out: TextIO, *, config_path: str | None, failing: bool, charts: Path
) -> AsyncIterator[Mission]:
    """Start the sandboxes and the real bot on SimCord; yield the mission; tear all down."""
    base, origin = demo_settings(config_path)
    clock = FakeClock(START)
    with tempfile.TemporaryDirectory(prefix="releasebot-demo-") as folder:
        database = Path(folder) / "releasebot.db"
        manifests = Path(folder) / "manifests"
        for env in ("staging", "production"):
            (manifests / env).mkdir(parents=True)
        print(
            "releasebot demo: the whole mission on a simulated Discord (SimCord), offline", file=out
        )
        print(f"settings: {origin}; database: temporary SQLite file {database}", file=out)
        metrics = MetricsSandbox(clock.now, start=START)
        metrics.script(ERROR_RATIO, error_ratio(failing=failing))
        metrics.script(LATENCY, ScriptedMetric([(timedelta(0), 0.18)]))
        kube = FakeKubeApi()
        for env in ("staging", "production"):
            kube.cluster.add_deployment(
                env, SERVICE, image=f"{IMAGE}:{RUNNING}", change_cause=f"release {RUNNING}"
            )
        async with metrics:
            await kube.start()
            client = await make_api_client(
                in_cluster=False, kubeconfig=None, context=None, host=kube.host
            )
            controller = RolloutController(
                client,
                clock=clock,
                sleep=VirtualSleep(clock),
                policy=CallPolicy(request_timeout_seconds=5.0),
            )

            async def connect() -> RolloutController:
                return controller

            settings = mission_settings(base, metrics.base_url, manifests)
            print(
                f"sandboxes: Prometheus query API at {metrics.base_url}, "
                f"Kubernetes API at {kube.host}; charts go to {charts}",
                file=out,
            )
            bot = create_bot(
                settings,
                clock=clock,
                database_url=f"sqlite+aiosqlite:///{database}",
                kubernetes=connect,
                rollout_poll_seconds=1.0,
            )
            try:
                async with simcord.run(bot) as env:
                    team = DemoRelease(env, Transcript(out, clock), clock, settings)
                    yield Mission(team, clock, metrics, kube, manifests, charts)
                    await bot.close()
            finally:
                await bot.close()
                await client.close()
                await kube.close()


async def run_demo(
    out: TextIO,
    *,
    config_path: str | None = None,
    scenario: str = "all",
    out_dir: str | Path | None = None,
) -> int:
    """Play the scenario(s) on a simulated Discord; print the transcript; 0 if every step held."""
    if scenario not in SCENARIOS:
        print(f"unknown scenario {scenario!r}; expected one of {', '.join(SCENARIOS)}", file=out)
        return 2
    charts = Path(out_dir) if out_dir else Path(tempfile.mkdtemp(prefix="releasebot-demo-charts-"))
    charts.mkdir(parents=True, exist_ok=True)
    mission: Mission | None = None
    try:
        async with launch(
            out, config_path=config_path, failing=scenario != "healthy", charts=charts
        ) as mission:
            if scenario in ("rollback", "all"):
                await rollback_scenario(mission)
            if scenario in ("healthy", "all"):
                await healthy_scenario(mission)
    except Exception as error:  # the demo reports any failure instead of a traceback
        print(f"\ndemo failed: {type(error).__name__}: {error}", file=out)
        return 1
    return _report(out, mission, charts)


def _report(out: TextIO, mission: Mission | None, charts: Path) -> int:
    if mission is None:
        return 1
    failed = [s for s in mission.steps if not s.ok]
    print(
        f"\n{len(mission.steps) - len(failed)}/{len(mission.steps)} expected steps seen", file=out
    )
    for step in failed:
        print(f"  ✘ {step.name} {step.detail}".rstrip(), file=out)
    print(f"charts posted: {len(mission.charts)} PNG in {charts}", file=out)
    return 1 if failed else 0


__all__ = ["SCENARIOS", "Mission", "launch", "mission_settings", "run_demo"]
