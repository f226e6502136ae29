#!/usr/bin/env python3
"""`make demo`: run the programme end to end on one machine and show what each step produced.

Everything runs on embedded defaults under `.demo/`: a collector (`jobshadow server start` on
loopback, SQLite control plane, local object store, Iceberg SQL catalog), a private Xvfb display
with openbox and real X applications (a terminal for notes, a text editor, a calculator), and the
real `jobshadow` CLI throughout.

0. On the server host, `server init` makes the first administrator's one-time login code. Four
   people log in, each from a JOBSHADOW_HOME of their own (an Ed25519 key each): the programme
   lead (admin and steward), a privacy officer (reviewer, not the lead), an ML researcher and the
   DPO (also the auditor). Every command after that is a request signed by one of them.
1. The lead issues an enrolment code and defines a collection scope; activation is refused until
   the privacy officer approves exactly what the review shows.
2. The device enrols, the person reads the notice and consents.
3. A scripted person writes a note, edits a document, scrolls, uses the calculator, switches
   windows and — by mistake — types an access key and an e-mail address; a password-manager
   window pops up in the middle of it all.
4. The owner looks at their own recording (decrypted export), then approves the upload.
5. The collector verifies and lands the segments exactly once; the admin sees what landed.
6. Curation turns landed segments into labelled, per-person-encrypted Iceberg tables. The lead
   asks for the ML team's time-limited grant; the privacy officer approves it (four eyes); the
   researcher queries through the governance door, and the same question for performance
   evaluation is refused whatever the grants; the exposure scan is clean, the DPO sees who read
   the person's data, and the audit log verifies.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

from jobshadow.testing.xdesktop import Desktop

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / ".demo"


def say(text: str) -> None:
    print(f"\n\033[1m== {text}\033[0m", flush=True)


class Jobshadow:
    def __init__(self, env: dict[str, str]) -> None:
        self.env = env

    def run(self, *args: str, check: bool = True, show: bool = False) -> subprocess.CompletedProcess[str]:
        res = subprocess.run([sys.executable, "-m", "jobshadow", *args], env=self.env, capture_output=True, text=True)
        if show:
            print(f"$ jobshadow {' '.join(args)}")
            print(res.stdout.rstrip() or res.stderr.rstrip())
        if check and res.returncode != 0:
            raise SystemExit(f"jobshadow {' '.join(args)} failed: {res.stderr.strip()}")
        return res

    def json(self, *args: str) -> Any:
        return json.loads(self.run(*args, "--json").stdout)


def clean_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("JOBSHADOW_")}
    env["JOBSHADOW_HOME"] = str(home)
    return env


def wait_healthy(url: str, proc: subprocess.Popen[bytes], what: str) -> None:
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=1) as r:  # noqa: S310 - loopback
                if r.status == 200:
                    return
        except OSError:
            if time.monotonic() > deadline or proc.poll() is not None:
                raise SystemExit(f"the {what} did not start; see .demo/collector.log") from None
            time.sleep(0.2)


def start_collector(server_home: Path) -> tuple[subprocess.Popen[bytes], str, str, Jobshadow]:
    """`server start`: the collector, and the governance door beside it (its own process)."""
    from jobshadow.testing.fleet import free_port

    port, door_port = free_port(), free_port()
    env = {**clean_env(server_home), "JOBSHADOW_SERVER__DOOR_PORT": str(door_port)}
    log = (DEMO / "collector.log").open("wb")
    proc = subprocess.Popen([sys.executable, "-m", "jobshadow", "server", "start", "--port", str(port)], env=env,
                            stdout=log, stderr=log)
    url, door = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{door_port}"
    wait_healthy(url, proc, "collector")
    wait_healthy(door, proc, "governance door")
    return proc, url, door, Jobshadow(env)


class People:
    """The people running the programme, each logged in from a JOBSHADOW_HOME of their own."""

    def __init__(self, host: Jobshadow, door: str) -> None:
        self.door = door
        say("people log in: one-time codes, a key pair each, roles")
        code = host.json("server", "init", "--admin", "lead@example.com")["code"]
        print("$ jobshadow server init --admin lead@example.com      (on the server host, once)")
        self.lead = self.login("lead", code)
        self.lead.run("admin", "roles", "lead@example.com", "--roles", "admin,steward", show=True)
        self.reviewer = self.invite("privacy.officer@example.com", "reviewer", "reviewer")
        self.researcher = self.invite("ml@example.com", "researcher", "researcher")
        self.dpo = self.invite("dpo@example.com", "dpo,auditor", "dpo")

    def login(self, name: str, code: str) -> Jobshadow:
        person = Jobshadow(clean_env(DEMO / "people" / name))
        person.run("login", "--server", self.door, "--code", code, show=True)
        return person

    def invite(self, email: str, roles: str, name: str) -> Jobshadow:
        code = self.lead.json("admin", "invite", email, "--roles", roles)["code"]
        print(f"$ jobshadow admin invite {email} --roles {roles}")
        return self.login(name, code)


def main() -> None:
    shutil.rmtree(DEMO, ignore_errors=True)
    DEMO.mkdir()
    home = DEMO / "home"
    config = DEMO / "jobshadow.toml"
    config.write_text(
        "# The device's own settings; its capture scope comes from the collector once enrolled.\n"
        "[upload]\n"
        'auto_approve_after = "10m"   # the owner gets to look before anything leaves the laptop\n'
    )

    say("the server: a collector (control plane, uploads, landing) and the governance door (loopback)")
    collector, url, door, host = start_collector(DEMO / "server")
    print(f"collector at {url}, governance door at {door} (state in .demo/server)")
    try:
        run_demo(home, config, url, People(host, door))
    finally:
        collector.terminate()
        collector.wait(15)


def run_demo(home: Path, config: Path, url: str, people: People) -> None:
    admin, reviewer = people.lead, people.reviewer
    say("programme lead: enrolment code, a collection scope, its privacy review by someone else")
    code = admin.json("admin", "enroll-code", "--person", "sam@example.com")["code"]
    print(f"enrolment code for sam@example.com: {code}")
    admin.run("admin", "scope", "create", "everyday-office", "--apps", "notes,xedit,xcalc",
              "--purposes", "model_training", "--retention-days", "90", show=True)
    refused = admin.run("admin", "scope", "activate", "everyday-office", check=False)
    print(f"$ jobshadow admin scope activate everyday-office\n{refused.stderr.strip()}   <- refused: no review yet")
    review = admin.run("admin", "review", "submit", "everyday-office").stdout.strip()
    refused = admin.run("admin", "review", "approve", review, check=False)
    print(f"$ jobshadow admin review approve {review}   (by the lead)\n{refused.stderr.strip()}")
    reviewer.run("admin", "review", "show", review, show=True)
    reviewer.run("admin", "review", "approve", review, show=True)
    admin.run("admin", "scope", "activate", "everyday-office", show=True)
    (DEMO / "report.txt").write_text(
        "Quarterly report draft\n\n" + "\n".join(f"Line {i}: figures to check." for i in range(1, 200)) + "\n")

    say("starting a virtual desktop (Xvfb + openbox) with real X applications")
    desk = Desktop(1920, 1080)
    try:
        notes = desk.app(["xterm", "-name", "notes", "-title", "notes", "-geometry", "100x30+20+20", "-e", "cat"],
                         "notes")
        editor = desk.app(["xedit", "-geometry", "900x700+980+40", str(DEMO / "report.txt")], "xedit")
        calc = desk.app(["xcalc", "-geometry", "+400+560"], "xcalc")
        print(f"display {desk.display}: notes (xterm), report.txt (xedit), calculator (xcalc)")

        env = {k: v for k, v in os.environ.items() if not k.startswith("JOBSHADOW_")}
        env.update({"JOBSHADOW_HOME": str(home), "JOBSHADOW_CONFIG": str(config), "DISPLAY": desk.display})
        for k in ("WAYLAND_DISPLAY", "XDG_SESSION_TYPE", "DBUS_SESSION_BUS_ADDRESS"):
            env.pop(k, None)
        js = Jobshadow(env)

        say("the device enrols (its Ed25519 key never leaves it)")
        js.run("device", "enroll", "--server", url, "--code", code, "--name", "demo-laptop", show=True)

        say("consent: the person reads the notice and agrees")
        notice = js.run("consent", "show").stdout
        print("\n".join(notice.splitlines()[:6]) + "\n  …")
        js.run("consent", "give", "--yes", show=True)

        say("recording an everyday task")
        rec = subprocess.Popen([sys.executable, "-m", "jobshadow", "record", "start"], env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        desk.wait_for(lambda: (home / "run" / "control.sock").exists(), 30, "the recorder")
        time.sleep(0.3)
        js.run("task", "start", "Update the quarterly report", show=True)
        x = desk.xdotool
        desk.activate(notes)
        x("type", "--delay", "25", "todo: check Q3 figures, total the two regions\n")
        x("mousemove", "1400", "400", "click", "1")
        desk.activate(editor)
        x("click", "--repeat", "5", "5")
        x("click", "--repeat", "2", "4")
        x("type", "--delay", "25", "Revenue reviewed. ")
        desk.activate(calc)
        for label_xy in ((466, 760), (510, 760), (554, 800)):  # a few calculator buttons
            x("mousemove", str(label_xy[0]), str(label_xy[1]), "click", "1")
            time.sleep(0.15)
        # A password manager pops up over the editor: it is never recorded, not even its pixels.
        vault = desk.app(["xterm", "-name", "keepassxc", "-title", "Vault", "-bg", "#ff00ff",
                          "-geometry", "40x8+1200+300", "-e", "cat"], "keepassxc")
        desk.activate(vault)
        x("type", "--delay", "25", "correct horse battery staple\n")
        x("windowunmap", "--sync", vault)
        desk.activate(notes)
        x("type", "--delay", "25", "shared the key AKIAZ4QXW7PLM3NRT2VB with jane.doe@example.com by mistake\n")
        x("key", "ctrl+l")
        x("type", "--delay", "25", "report done\n")
        js.run("task", "end", show=True)
        time.sleep(0.5)
        status = js.json("record", "status")
        js.run("record", "stop", show=True)
        rec.communicate(timeout=30)
    finally:
        desk.close()

    say("what the recorder saw while running")
    print(f"events captured: {status['events_captured']}")
    print(f"frames: {status['frames']}, dropped: {sum(status['frames_dropped'].values())}, "
          f"suppressed outside scope: {status['suppressed']}, redactions: {status['redactions']}")
    r = status["resources"]
    print(f"recorder CPU {r['cpu_s']} s over {status['uptime_s']} s, PSS {r['pss_mb']} MB")

    say("segments in the encrypted spool")
    js.run("segments", "list", show=True)
    segs = js.json("segments", "list")
    for seg in segs:
        js.run("segments", "inspect", seg["id"], show=True)

    say("decrypted export of the recording (for its owner)")
    out = DEMO / "export"
    js.run("segments", "export", segs[0]["id"], "--out", str(out), show=True)
    events = [json.loads(line) for line in (out / "events.jsonl").read_text().splitlines()]
    pieces = []
    for e in events:
        if e["kind"] == "key_press" and e.get("char"):
            pieces.append(e["char"])
        elif e["kind"] == "redaction":
            pieces.append(f"[{e['finding']}]")
    typed = "".join(pieces)
    print("typed text as stored (redaction markers in brackets):")
    for line in typed.splitlines():
        print(f"  {line}")
    markers = [e for e in events if e["kind"] == "marker"]
    print("markers: " + ", ".join(f"{m['name']}{' ' + repr(m['detail']['title']) if m['detail'].get('title') else ''}"
                                  for m in markers))
    windows = [json.loads(line) for line in (out / "windows.jsonl").read_text().splitlines()]
    print("window switches: " + " → ".join(
        (w["window"]["wm_instance"] if w["window"] else "(out of scope)") for w in windows))
    frames = sorted((out / "frames").glob("*.png"))
    print(f"{len(frames)} frames as PNG in {out / 'frames'}")
    print("the password manager's keys and pixels are absent: "
          f"{'correct horse' not in typed and 'keepassxc' not in (out / 'windows.jsonl').read_text()}")

    say("the owner approves: upload now (normally after the review window)")
    approve = Jobshadow({**js.env, "JOBSHADOW_UPLOAD__AUTO_APPROVE_AFTER": "0"})
    approve.run("upload", "run", "--once", show=True)
    js.run("segments", "list", show=True)

    say("what landed at the collector (sealed blobs + Iceberg landing table)")
    admin.run("admin", "landed", show=True)
    admin.run("admin", "status", show=True)

    governed_lake(people)


def approve_all(people: People) -> None:
    """The privacy officer approves every request waiting (after reading them)."""
    for request in people.reviewer.json("govern", "request", "list"):
        people.reviewer.run("govern", "request", "approve", request["request"])
        print(f"$ jobshadow govern request approve {request['request']}   (privacy officer: "
              f"{request['principal']} {request['action']} {request['table']})")


def governed_lake(people: People) -> None:
    admin, ml, dpo = people.lead, people.researcher, people.dpo
    say("curation: landed segments become labelled tables, sensitive columns sealed per person")
    admin.run("curate", "run", show=True)
    admin.run("govern", "tables", show=True)

    say("a time-limited grant: the ML team may read events and windows — asked by the lead, approved by another")
    admin.run("govern", "member", "add", "person:ml@example.com", "group:ml-team", show=True)
    for table in ("curated.events", "curated.windows"):
        admin.run("govern", "grant", "group:ml-team", "read", table, "--purpose", "model_training", "--for", "30d",
                  show=True)
    people.reviewer.run("govern", "request", "list", show=True)
    approve_all(people)

    say("the researcher's governed query for model_training: typed text decrypted for this purpose only")
    ml.run("query", "--purpose", "model_training",
           "SELECT kind, count(*) AS n FROM curated.events GROUP BY kind ORDER BY n DESC", show=True)
    rows = ml.json("query", "--purpose", "model_training",
                   "SELECT kind, char, finding FROM curated.events WHERE kind IN ('key_press', 'redaction') "
                   "ORDER BY segment_id, seq")
    typed = "".join(r["char"] or "" if r["kind"] == "key_press" else f"[{r['finding']}]" for r in rows)
    print("typed text as the ML team sees it (secrets were redacted on the device):")
    for line in typed.splitlines()[:6]:
        print(f"  {line}")
    ml.run("query", "--purpose", "model_training",
           "SELECT wm_class, count(*) AS focus_changes FROM curated.windows GROUP BY wm_class", show=True)

    say("the same question for performance_evaluation: refused (and audited) before any SQL runs")
    refused = ml.run("query", "--purpose", "performance_evaluation", "SELECT count(*) FROM curated.events",
                     check=False)
    print("$ jobshadow query --purpose performance_evaluation …")
    print(f"{refused.stderr.strip()}   (exit {refused.returncode})")
    if refused.returncode == 0:
        raise SystemExit("a forbidden purpose was allowed")

    say("exposure scan: labels, grants, group sizes, plaintext in the warehouse and object store")
    admin.run("govern", "scan", show=True)

    say("the DPO: who read Sam's data, for which purpose — and the audit log verifies")
    dpo.run("audit", "who", "--subject", "sam@example.com", "--limit", "8", show=True)
    dpo.run("audit", "verify", show=True)

    say("a training dataset: actions, the screen before each, tasks — built by the researcher through the door")
    for table in ("curated.segments", "curated.events", "curated.windows", "curated.frames", "curated.markers"):
        for action in ("read", "export"):
            admin.run("govern", "grant", "person:ml@example.com", action, table, "--purpose", "model_training",
                      "--for", "1d")
    print("the lead asked for read + export on the five curated tables for the researcher (1 day)")
    approve_all(people)
    out = DEMO / "dataset"
    ml.run("dataset", "build", "--purpose", "model_training", "--format", "hf", "--out", str(out),
           "--name", "demo_office", show=True)
    say(f"the dataset card ({out / 'README.md'})")
    print((out / "README.md").read_text().rstrip())


if __name__ == "__main__":
    main()
