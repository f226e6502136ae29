"""The second held-out batch of screen templates (split ``heldout2``), and the styles they are drawn in.

Written after the engine had been tuned on ``dev`` and after the first held-out batch had been looked
at, and before the engine ever read one of these screens: new page shapes and apps (a chat thread
with a narrow reply pane, an issue tracker with a credentials table and comments, a monitoring
dashboard with a log panel, a terminal running ``env``, ``kubectl get secret -o yaml`` and
``cat .env``, an IDE with ``.npmrc`` and a terminal panel, an admin settings form with values in
input boxes), new themes (high contrast, solarized, grey, a dim dark), fonts the other batches do
not use (condensed, light, narrow, Bookman), odd sizes (11-22 px, xterm at 8 and 16 points) and
odd scale factors (1.1, 1.75). Values are planted by the same ``Filler`` as the other batches; a
few are shown the way these apps show them (base64 in a Kubernetes secret, an npm token).
The credentials table of ``issue`` was written knowing that a header-column rule was planned.

First and only untouched run (engine at commit 119b39a, 18 screens, 148 values legible to the
checker): zero-leak 95.95%, utility 88.0%, look-alikes kept 91.6%. Three of its six leaks and
most of the over-masking it showed were then fixed by general rules (the other three: a PIN
column whose bold header tesseract reads as `rani`), so this batch is no longer held out.
"""

from __future__ import annotations

import base64
import random

import redact_corpus
from screen_corpus import VARIANTS, Filler, Planted, Template
from screen_templates import page

from jobshadow.sensitive import KINDS

FONTS_SANS = ("DejaVu Sans Condensed", "DejaVu Sans Light", "Nimbus Sans Narrow", "URW Bookman",
              "DejaVu Serif Condensed", "DejaVu Sans", "Nimbus Sans")
FONTS_MONO = ("DejaVu Sans Mono", "Nimbus Mono PS")
THEMES = {
    "contrast": {"bg": "#000000", "fg": "#ffff66", "muted": "#cccccc", "panel": "#111111", "accent": "#00c0ff",
                 "add": "#003300", "del": "#330000", "border": "#ffffff"},
    "solar": {"bg": "#fdf6e3", "fg": "#586e75", "muted": "#93a1a1", "panel": "#eee8d5", "accent": "#268bd2",
              "add": "#e3f0c8", "del": "#f5d5cf", "border": "#d3cbb7"},
    "grey": {"bg": "#e8e8e8", "fg": "#333333", "muted": "#777777", "panel": "#d6d6d6", "accent": "#5a5a9a",
             "add": "#d3ecd6", "del": "#efd3d3", "border": "#bbbbbb"},
    "dim": {"bg": "#22272e", "fg": "#adbac7", "muted": "#768390", "panel": "#2d333b", "accent": "#539bf5",
            "add": "#1b4721", "del": "#5d0f12", "border": "#444c56"},
    "white": {"bg": "#ffffff", "fg": "#172b4d", "muted": "#6b778c", "panel": "#f4f5f7", "accent": "#0052cc",
              "add": "#e3fcef", "del": "#ffebe6", "border": "#dfe1e6"},
}
XTERM_THEMES = (("black", "#33ff66"), ("#2b1d0e", "#ffb000"), ("#d8d8d8", "#202020"), ("#1e1e1e", "#d4d4d4"),
                ("white", "#000080"))
XTERM_FONTS = (("fixed", 0), ("DejaVu Sans Mono", 8), ("DejaVu Sans Mono", 16), ("Nimbus Mono PS", 10),
               ("Nimbus Mono PS", 15))


def styles(rng: random.Random, medium: str) -> dict[str, str]:
    if medium in ("xterm", "editor"):
        bg, fg = rng.choice(XTERM_THEMES)
        font, size = rng.choice(XTERM_FONTS)
        return {"bg": bg, "fg": fg, "font": font, "size": str(size)}
    return {"theme": rng.choice(tuple(THEMES)), "font": rng.choice(FONTS_SANS), "mono": rng.choice(FONTS_MONO),
            "size": str(rng.choice((11, 13, 14, 16, 17, 20, 22))), "scale": rng.choice(("1", "1", "1.1", "1.75", "2"))}


def plant(f: Filler, kind: str, shown: str) -> str:
    """Record ``shown`` (a value as an app shows it: encoded, wrapped in its own syntax) as planted."""
    f.planted.append(Planted(kind, shown))
    return f._e(shown)


def encoded(f: Filler) -> tuple[str, str]:
    """The next kind of the quota as Kubernetes shows it in a Secret's ``data``: base64."""
    kind = f.kinds.pop() if f.kinds else f.rng.choice(KINDS)
    value = redact_corpus.VALUES[kind](f.rng, f.rng.choice(VARIANTS.get(kind, ("",))))
    return kind, plant(f, kind, base64.b64encode(value.encode()).decode())


def npm_token(f: Filler) -> str:
    alnum = redact_corpus.ALNUM
    return plant(f, "generic_token", "npm_" + "".join(f.rng.choice(alnum) for _ in range(36)))


# ---------------------------------------------------------------- templates


def thread(f: Filler) -> str:
    """A Slack-like channel with a narrow thread pane on the right (long values wrap there)."""
    chans = "".join(f"<div class=ch># {f.faker.word()}</div>" for _ in range(6))
    dms = "".join(f"<div class=ch>● {f.name()}</div>" for _ in range(4))

    def msg(body: str) -> str:
        who = f.name()
        initials = "".join(p[0] for p in who.split()[:2])
        return (f"<div class=m><div class=av>{initials}</div><div><b>{who}</b> <span class=muted>"
                f"{f.looks('time')}</span><div class=wrap>{body}</div></div></div>")

    main = []
    for _ in range(f.rng.randint(5, 6)):
        body = f.words(f.rng.randint(6, 14))
        roll = f.rng.random()
        if f.kinds and roll < 0.35:
            body += f" <code>{f.secret()}</code>"
        elif f.kinds and roll < 0.6:
            body += f"<pre>{f.secret()}</pre>"
        elif roll < 0.8:
            body += f" ({f.looks()})"
        main.append(msg(body) + f"<div class=rx>:+1: {f.rng.randint(1, 9)}  :eyes: {f.rng.randint(1, 4)}</div>")
    replies = []
    while f.kinds:
        body = f.words(f.rng.randint(3, 8)) + " " + f.secret() if f.rng.random() < 0.6 else f.secret()
        replies.append(msg(body))
    css = (".side{position:fixed;left:0;top:0;bottom:0;width:220px;background:var(--panel);padding:10px}"
           ".ch{padding:3px 0;color:var(--muted)} .main{position:fixed;left:240px;top:0;bottom:0;right:470px;"
           "padding:10px 18px;overflow:hidden} .thr{position:fixed;right:0;top:0;bottom:0;width:440px;"
           "border-left:1px solid var(--border);padding:10px 14px;overflow:hidden} .m{display:flex;gap:10px;"
           "margin:0 0 10px 0} .av{width:32px;height:32px;flex:none;border-radius:4px;background:var(--accent);"
           "color:#fff;text-align:center;line-height:32px;font-size:12px} .rx{margin:-6px 0 10px 42px;"
           "font-size:11px;color:var(--muted)} code{background:var(--panel);border:1px solid var(--border);"
           "padding:0 3px}")
    return page(f"<div class=side><b>{f.faker.company()}</b><p class=muted>Channels</p>{chans}"
                f"<p class=muted>Direct messages</p>{dms}</div><div class=main><h3># {f.faker.word()}</h3>"
                f"{''.join(main)}</div><div class=thr><b>Thread</b>{''.join(replies)}</div>", css)


def issue(f: Filler) -> str:
    """A Jira-like issue: description with a credentials table, comments, a details sidebar."""
    heads = f.rng.choice((("Environment", "User", "Password"), ("Service", "Account", "Secret"),
                          ("System", "Login", "PIN"), ("Integration", "Client", "Token")))

    def cell() -> str:
        if heads[2] == "PIN":
            return plant(f, "password", redact_corpus.VALUES["password"](f.rng, "pin"))
        if heads[2] == "Password":
            return f.secret("password", bare=True)
        return f.secret(bare=True) if f.kinds else f.words(1)

    table = "".join(f"<tr><td>{f.faker.word()}-{f.rng.choice(('prod', 'stage', 'dev'))}</td>"
                    f"<td>{f.faker.user_name()}</td><td>{cell()}</td></tr>" for _ in range(3))
    comments = []
    for _ in range(f.rng.randint(3, 4)):
        body = f.words(f.rng.randint(8, 16))
        if f.kinds:
            body += f" {f.secret()}" + (f" {f.words(4)}" if f.rng.random() < 0.5 else "")
        comments.append(f"<div class=c><b>{f.name()}</b> <span class=muted>{f.looks('date')} · Edited</span>"
                        f"<p class=wrap>{body}</p></div>")
    rest = "".join(f"<div class=c><b>{f.name()}</b><p class=wrap>{f.secret()}</p></div>" for _ in range(len(f.kinds)))
    side = "".join(f"<tr><td class=muted>{k}</td><td>{v}</td></tr>" for k, v in (
        ("Assignee", f.name()), ("Reporter", f.name()), ("Labels", f"{f.faker.word()} {f.faker.word()}"),
        ("Sprint", f"Sprint {f.rng.randint(10, 99)}"), ("Story points", str(f.rng.randint(1, 13))),
        ("Created", f.looks("date")), ("Fix versions", f.looks("version"))))
    css = (".crumb{padding:8px 24px;color:var(--muted)} .wrapall{display:flex;gap:28px;padding:0 24px}"
           ".l{flex:3;min-width:0} .r{flex:1;border:1px solid var(--border);border-radius:4px;padding:8px}"
           ".loz{background:var(--accent);color:#fff;padding:1px 6px;border-radius:3px;font-size:12px}"
           ".creds{border-collapse:collapse} .creds td,.creds th{border:1px solid var(--border);padding:4px 10px}"
           ".c{border-top:1px solid var(--border);padding:6px 0} td{padding:3px 6px}")
    return page(f"<div class=crumb>Projects / {f.faker.word()} / {f.looks('ticket')}</div><div class=wrapall>"
                f"<div class=l><h2>{f.words(7)}</h2><span class=loz>IN REVIEW</span><h4>Description</h4>"
                f"<p class=wrap>{f.words(18)}</p><table class=creds><tr>{''.join(f'<th>{h}</th>' for h in heads)}"
                f"</tr>{table}</table><h4>Activity</h4>{''.join(comments)}{rest}</div>"
                f"<div class=r><b>Details</b><table>{side}</table></div></div>", css)


def dashboard(f: Filler) -> str:
    """A Grafana-like dashboard: stat panels, a table panel of logins and a small-font log panel."""
    stats = "".join(f"<div class=p><div class=muted>{f.words(2)}</div><div class=big>{f.looks('price')}</div></div>"
                    for _ in range(3))
    rows = []
    for _ in range(5):
        user = f.secret("email", bare=True) if f.kinds and f.rng.random() < 0.5 else f.faker.user_name()
        rows.append(f"<tr><td>{user}</td><td>{f.looks('ip')}</td><td>{f.looks('time')}</td>"
                    f"<td>{f.rng.choice(('bad password', 'locked', 'mfa timeout'))}</td></tr>")
    logs = []
    for _ in range(9):
        level = f.rng.choice(("info", "warn", "error"))
        text = f.secret() if f.kinds and f.rng.random() < 0.6 else f.words(6)
        logs.append(f"<div>{f.looks('datetime')} <span class=lv>{level}</span> {text}</div>")
    while f.kinds:
        logs.append(f"<div>{f.looks('datetime')} <span class=lv>debug</span> {f.secret()}</div>")
    css = (".bar{padding:8px 14px;background:var(--panel);border-bottom:1px solid var(--border)}"
           ".var{border:1px solid var(--border);padding:2px 8px;margin-right:10px} .grid{display:grid;"
           "grid-template-columns:1fr 1fr 1fr;gap:10px;padding:10px} .p{background:var(--panel);"
           "border:1px solid var(--border);padding:8px;min-width:0} .big{font-size:2.2em;color:var(--accent)}"
           ".w2{grid-column:span 2} .w3{grid-column:span 3} table{border-collapse:collapse;width:100%}"
           "td{padding:3px 6px;border-bottom:1px solid var(--border)} .log{font-family:var(--mono);font-size:11px;"
           "overflow-wrap:anywhere} .lv{color:var(--accent)}")
    return page(f"<div class=bar><b>{f.words(2)}</b> <span class=var>env: prod</span><span class=var>"
                f"instance: {f.looks('hostname')}</span><span class=muted>Last 6 hours</span></div>"
                f"<div class=grid>{stats}<div class='p w3'><b>Failed logins</b><table>{''.join(rows)}</table></div>"
                f"<div class='p w3 log'><b>Logs</b>{''.join(logs)}</div></div>", css)


def kube(f: Filler) -> str:
    """A shell: ``env | grep``, ``kubectl get pods``, ``kubectl get secret -o yaml``, ``cat .env``."""
    prompt = f"[{f.faker.user_name()}@{f.rng.choice(('bastion', 'ops-1', 'k8s-admin'))} ~]$ "
    out = [prompt + "env | grep -iE 'key|token|secret|pass'", f.secret(), f.secret()]
    out += [prompt + "kubectl get pods -n payments", "NAME                              READY   STATUS    AGE"]
    out += [f"{f.looks('k8s_pod'):<34}1/1     Running   {f.rng.randint(2, 40)}d" for _ in range(3)]
    name = f.faker.word()
    out += [prompt + f"kubectl get secret {name}-creds -o yaml", "apiVersion: v1", "data:"]
    for key in ("username", "password", "api-key")[: f.rng.randint(2, 3)]:
        shown = encoded(f)[1] if key != "username" else base64.b64encode(f.faker.user_name().encode()).decode()
        out.append(f"  {key}: {shown}")
    out += ["kind: Secret", "metadata:", f"  name: {name}-creds", f"  uid: {f.looks('uuid')}", "type: Opaque"]
    out += [prompt + "cat .env"]
    out += [f.secret() for _ in range(min(3, len(f.kinds)))]
    out += [f"# {f.words(5)}", f"RELEASE={f.looks('version')}"]
    while f.kinds:
        out += [prompt + f"echo ${f.faker.word().upper()}_TOKEN", f.secret(bare=True)]
    return "\n".join([*out, prompt])


def ide(f: Filler) -> str:
    """A VS Code-like editor on ``.npmrc``, with an explorer, tabs and a terminal panel."""
    files = (".github", "src", ".env.local", ".npmrc", "docker-compose.yml", "package.json", "README.md")
    tree = "".join(f"<div class={'sel' if n == '.npmrc' else 'fi'}>{n}</div>" for n in files)
    code = [f"; {f.words(5)}", "@acme:registry=https://npm.pkg.github.com",
            f"//npm.pkg.github.com/:_authToken={f.secret('github_token', bare=True)}",
            f"//registry.npmjs.org/:_authToken={npm_token(f)}", "always-auth=true", "",
            f"; {f.words(4)}"]
    code += [f.secret() for _ in range(min(3, len(f.kinds)))]
    code += ["", f"# {f.words(6)}", f"engine-strict=true  ; {f.looks('version')}"]
    lines = "".join(f"<div><span class=ln>{i}</span><span class=tx>{t}</span></div>" for i, t in enumerate(code, 1))
    term = ["$ npm whoami", f.faker.user_name(), "$ docker compose config | grep -A3 environment"]
    term += [f"      {f.secret()}" for _ in range(len(f.kinds))]
    css = (".act{position:fixed;left:0;top:0;bottom:0;width:44px;background:var(--accent)} .ex{position:fixed;"
           "left:44px;top:0;bottom:0;width:230px;background:var(--panel);padding:8px} .fi,.sel{padding:2px 8px}"
           ".sel{background:var(--border)} .ed{position:fixed;left:274px;right:0;top:0;bottom:300px;"
           "overflow:hidden} .tabs{background:var(--panel);padding:6px 10px;border-bottom:1px solid var(--border)}"
           ".code{font-family:var(--mono);padding:6px 0;white-space:pre} .ln{display:inline-block;width:44px;"
           "text-align:right;padding-right:14px;color:var(--muted)} .tx{color:var(--fg)} .term{position:fixed;"
           "left:274px;right:0;bottom:24px;height:270px;border-top:1px solid var(--border);font-family:var(--mono);"
           "padding:6px 12px;white-space:pre-wrap;overflow:hidden} .sb{position:fixed;left:0;right:0;bottom:0;"
           "height:24px;background:var(--accent);color:#fff;padding:2px 10px}")
    return page(f"<div class=act></div><div class=ex><b>EXPLORER</b>{tree}</div><div class=ed><div class=tabs>"
                f".npmrc (x)   package.json</div><div class=code>{lines}</div></div><div class=term>"
                f"{'<br>'.join(term)}</div><div class=sb>main ↻ {f.looks('short_sha')}  Ln 3, Col 1</div>", css)


def settings(f: Filler) -> str:
    """An admin settings page: labelled input boxes holding values, an API keys table."""
    def field(label: str, value: str) -> str:
        return f"<div class=f><label>{label}</label><div class=in>{value}</div></div>"

    form = [field("Organisation", f.faker.company()), field("Support e-mail", f.secret("email", bare=True)),
            field("SMTP host", f.looks("hostname")), field("SMTP username", f.faker.user_name())]
    if f.kinds:
        form.append(field(f.rng.choice(("SMTP password", "Password", "Bind password")), f.secret(bare=True)))
    form.append(field("Webhook signing secret", f.secret(bare=True) if f.kinds else "••••••••"))
    keys = []
    while f.kinds:
        keys.append(f"<tr><td>{f.faker.word()}-{f.faker.word()}</td><td class=mono>{f.secret(bare=True)}</td>"
                    f"<td>{f.looks('date')}</td><td class=muted>{f.words(2)}</td></tr>")
    css = (".nav{background:var(--panel);padding:10px 24px;border-bottom:1px solid var(--border)}"
           ".pg{padding:10px 40px}"
           ".f{margin:8px 0} label{display:block;color:var(--muted);font-size:0.9em} .in{border:1px solid "
           "var(--border);border-radius:4px;padding:5px 8px;width:640px;overflow:hidden;white-space:nowrap}"
           "table{border-collapse:collapse;width:100%} td{padding:6px;border-bottom:1px solid var(--border)}"
           ".btn{background:var(--accent);color:#fff;padding:4px 12px;border-radius:4px}")
    return page(f"<div class=nav>Settings / Integrations · {f.words(2)}</div><div class=pg><h3>Mail delivery</h3>"
                f"<p class=muted>{f.words(10)}</p>{''.join(form)}<p><span class=btn>Save</span></p><h3>API keys</h3>"
                f"<table><tr><td><b>Name</b></td><td><b>Key</b></td><td><b>Created</b></td><td><b>Note</b></td></tr>"
                f"{''.join(keys)}</table></div>", css)


TEMPLATES: dict[str, tuple[str, str, Template]] = {
    "thread": ("heldout2", "html", thread),
    "issue": ("heldout2", "html", issue),
    "dashboard": ("heldout2", "html", dashboard),
    "kube": ("heldout2", "xterm", kube),
    "ide": ("heldout2", "html", ide),
    "settings": ("heldout2", "html", settings),
}
