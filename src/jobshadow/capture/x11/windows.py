"""The X11 window model: stacking, geometry and identity of top-level windows, and the active one.

Device zone. Event-driven: the model selects SubstructureNotify and PropertyChange on the root
window (and PropertyChange on every client), so it learns of maps, moves, restacks, title changes
and ``_NET_ACTIVE_WINDOW`` changes without polling. It is a passive, lock-protected object: the
screen thread pumps its connection (``pump``/``sync``) and other threads read immutable snapshots.

It implements ``jobshadow.capture.backend.WindowModel``, including the property privacy depends
on: after ``sync()`` returns, every change the X server made before the sync is in the model, and
every window that changed since the last ``take_trail()`` is in the trail.

Window-manager quirks handled: ``_NET_ACTIVE_WINDOW`` is briefly 0 during a switch and windows can
vanish between an event and a query (BadWindow is caught everywhere); xterm has no
``_NET_WM_NAME`` (falls back to ``WM_NAME``); override-redirect popups (menus, tooltips) belong to
the client whose resource-id base they share.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from msgspec.structs import replace
from Xlib import X, Xatom
from Xlib import display as xdisplay
from Xlib import error as xerror

from jobshadow.capture.backend import FocusEvent, Snapshot, StackEntry
from jobshadow.capture.x11.display import connect
from jobshadow.records import Rect, WindowInfo

log = logging.getLogger(__name__)

_ROOT_MASK = X.SubstructureNotifyMask | X.PropertyChangeMask
_CLIENT_MASK = X.PropertyChangeMask | X.StructureNotifyMask
# How long "no active window" must last before it is reported as a focus change.
_NO_FOCUS_DEBOUNCE = 0.15
_IDENTITY_PROPS = ("_NET_WM_NAME", "WM_NAME", "WM_CLASS", "_NET_WM_PID", "WM_WINDOW_ROLE",
                   "_NET_WM_STATE", "_NET_FRAME_EXTENTS")


@dataclass
class _Child:
    """A direct child of the root window: a WM frame, a popup, or an unmanaged window."""

    wid: int
    rect: Rect
    mapped: bool
    override_redirect: bool
    client: int | None = None  # the managed client window inside a frame


class X11Windows:
    def __init__(self, display_name: str) -> None:
        self._d: xdisplay.Display = connect(display_name)
        self._lock = threading.RLock()
        self._root = self._d.screen().root
        geo = self._root.get_geometry()
        self._root_rect = Rect(0, 0, geo.width, geo.height)
        self._atoms = {name: self._d.intern_atom(name) for name in (
            "_NET_ACTIVE_WINDOW", "_NET_CLIENT_LIST_STACKING", "_NET_WM_NAME", "UTF8_STRING", "WM_STATE",
            "_NET_WM_PID", "WM_WINDOW_ROLE", "_NET_WM_STATE", "_NET_FRAME_EXTENTS", "WM_CLASS", "WM_NAME")}
        self._atom_names: dict[int, str] = {}
        self._id_mask = self._d.display.info.resource_id_mask
        self._has_res = self._d.query_extension("X-Resource").present
        if self._has_res:
            self._d.res_query_version()
        self._children: dict[int, _Child] = {}
        self._order: list[int] = []  # root children, bottom to top
        self._info: dict[int, WindowInfo] = {}  # client id -> identity (geometry filled at snapshot)
        self._extents: dict[int, tuple[int, ...] | None] = {}  # client id -> _NET_FRAME_EXTENTS
        self._client_of: dict[int, int | None] = {}  # any window id -> client id (for focus lookups)
        self._trail: dict[int, list[StackEntry]] = {}
        self._active: int | None = None
        self._snapshot: Snapshot | None = None
        self._focus_events: list[FocusEvent] = []
        self._pending_none: float | None = None
        with self._lock:
            self._root.change_attributes(event_mask=_ROOT_MASK)
            self._load_tree()
            self._active = self._read_active()
            self._snapshot = self._make_snapshot()

    # --- public, thread-safe -----------------------------------------------------------------
    def fileno(self) -> int:
        return int(self._d.fileno())

    @property
    def root(self) -> Rect:
        return self._root_rect

    def sync(self) -> Snapshot:
        """Round trip to the server, apply every queued change, return a fresh snapshot."""
        with self._lock:
            try:
                self._d.sync()
            except xerror.XError:
                log.debug("sync raised an X error for a vanished window")
            self._drain()
            self._snapshot = self._make_snapshot()
            return self._snapshot

    def pump(self) -> list[FocusEvent]:
        """Apply queued events without a round trip (cheap; for the idle loop); focus changes due."""
        with self._lock:
            self._drain()
            if self._pending_none is not None and time.monotonic() - self._pending_none >= _NO_FOCUS_DEBOUNCE:
                self._focus_events.append((self._pending_none, None))
                self._pending_none = None
            out, self._focus_events = self._focus_events, []
            return out

    def snapshot(self) -> Snapshot:
        with self._lock:
            assert self._snapshot is not None
            return self._snapshot

    def take_trail(self) -> list[StackEntry]:
        """Every state of every window that changed since the last call (for conservative masks)."""
        with self._lock:
            out = [e for states in self._trail.values() for e in states]
            self._trail.clear()
            return out

    def active(self) -> WindowInfo | None:
        with self._lock:
            return self._info_for(self._active) if self._active else None

    def window(self, window_id: int) -> WindowInfo | None:
        """Identity of the client that owns ``window_id`` (a client, frame or subwindow)."""
        with self._lock:
            client = self._client_for(window_id)
            return self._info_for(client) if client else None

    def close(self) -> None:
        with self._lock, contextlib.suppress(Exception):
            self._d.close()

    # --- event handling (under lock) -------------------------------------------------------------
    def _drain(self) -> None:
        n = 0
        while self._d.pending_events():
            try:
                ev = self._d.next_event()
            except xerror.XError:
                continue
            self._handle(ev)
            n += 1
            if n > 100_000:  # a runaway client must not pin us here forever
                break

    def _handle(self, ev: object) -> None:
        typ = getattr(ev, "type", None)
        if typ == X.CreateNotify:
            if ev.parent.id == self._root.id:  # type: ignore[attr-defined]
                self._add_child(ev.window.id)  # type: ignore[attr-defined]
        elif typ == X.DestroyNotify:
            self._forget(ev.window.id)  # type: ignore[attr-defined]
        elif typ == X.ReparentNotify:
            wid = ev.window.id  # type: ignore[attr-defined]
            if ev.parent.id == self._root.id:  # type: ignore[attr-defined]
                self._add_child(wid)
            else:
                self._remove_child(wid)
                self._client_of.pop(wid, None)
                self._rescan_frame(ev.parent.id)  # type: ignore[attr-defined]
        elif typ in (X.MapNotify, X.UnmapNotify):
            wid = ev.window.id  # type: ignore[attr-defined]
            child = self._children.get(wid)
            if child is not None:
                self._note_trail(child)
                child.mapped = typ == X.MapNotify
                if child.mapped and child.client is None and not child.override_redirect:
                    self._rescan_frame(wid)
                self._note_trail(child)
        elif typ == X.ConfigureNotify:
            wid = ev.window.id  # type: ignore[attr-defined]
            child = self._children.get(wid)
            if child is not None:
                self._note_trail(child)
                child.rect = Rect(ev.x, ev.y, ev.width + 2 * ev.border_width,  # type: ignore[attr-defined]
                                  ev.height + 2 * ev.border_width)  # type: ignore[attr-defined]
                above = ev.above_sibling  # type: ignore[attr-defined]
                above_id = above if isinstance(above, int) else getattr(above, "id", 0)
                self._restack(wid, above_id)
                self._note_trail(child)
        elif typ == X.CirculateNotify:
            self._load_tree()
        elif typ == X.PropertyNotify:
            self._on_property(ev)

    def _on_property(self, ev: object) -> None:
        wid = ev.window.id  # type: ignore[attr-defined]
        atom = ev.atom  # type: ignore[attr-defined]
        if wid == self._root.id:
            if atom == self._atoms["_NET_ACTIVE_WINDOW"]:
                active = self._read_active()
                if active != self._active:
                    self._active = active
                    t = time.monotonic()
                    if active is None:
                        # Window managers clear the property for a moment during a switch;
                        # report "no window" only if it lasts (see take_focus_events).
                        self._pending_none = t
                    else:
                        self._pending_none = None
                        self._focus_events.append((t, self._info_for(active)))
            elif atom == self._atoms["_NET_CLIENT_LIST_STACKING"]:
                self._load_tree()
            return
        if wid in self._info and self._atom_name(atom) in _IDENTITY_PROPS:
            old = self._info.pop(wid)
            for child in self._children.values():
                if child.client == wid:
                    self._note_trail(child)
            new = self._info_for(wid)
            if wid == self._active and new is not None and (new.title, new.wm_class) != (old.title, old.wm_class):
                self._focus_events.append((time.monotonic(), new))
            for child in self._children.values():
                if child.client == wid:
                    self._note_trail(child)

    # --- tree maintenance --------------------------------------------------------------------------
    def _load_tree(self) -> None:
        try:
            tree = self._root.query_tree()
        except xerror.XError:
            return
        ids = [w.id for w in tree.children]
        for wid in ids:
            if wid not in self._children:
                self._add_child(wid, restack=False)
        for wid in list(self._children):
            if wid not in ids:
                self._remove_child(wid)
        self._order = [w for w in ids if w in self._children]

    def _add_child(self, wid: int, restack: bool = True) -> None:
        try:
            win = self._d.create_resource_object("window", wid)
            attrs = win.get_attributes()
            geo = win.get_geometry()
        except xerror.XError:
            return
        child = _Child(
            wid=wid,
            rect=Rect(geo.x, geo.y, geo.width + 2 * geo.border_width, geo.height + 2 * geo.border_width),
            mapped=attrs.map_state == X.IsViewable,
            override_redirect=bool(attrs.override_redirect),
        )
        self._children[wid] = child
        if restack:
            if wid in self._order:
                self._order.remove(wid)
            self._order.append(wid)
        if not child.override_redirect:
            self._rescan_frame(wid)
        self._note_trail(child)

    def _remove_child(self, wid: int) -> None:
        child = self._children.pop(wid, None)
        if child is not None:
            self._note_trail(child)
        if wid in self._order:
            self._order.remove(wid)

    def _forget(self, wid: int) -> None:
        self._remove_child(wid)
        self._info.pop(wid, None)
        self._client_of.pop(wid, None)
        for k, v in list(self._client_of.items()):
            if v == wid:
                self._client_of.pop(k, None)
        if self._active == wid:
            self._active = None

    def _restack(self, wid: int, above: int) -> None:
        if wid in self._order:
            self._order.remove(wid)
        if above and above in self._order:
            self._order.insert(self._order.index(above) + 1, wid)
        elif above:
            self._order.append(wid)
        else:
            self._order.insert(0, wid)

    def _rescan_frame(self, frame_id: int) -> None:
        child = self._children.get(frame_id)
        if child is None:
            return
        client = self._find_client(frame_id, depth=0)
        child.client = client
        if client is not None:
            self._client_of[frame_id] = client
            self._client_of[client] = client
            with contextlib.suppress(xerror.XError):
                self._d.create_resource_object("window", client).change_attributes(event_mask=_CLIENT_MASK)

    def _find_client(self, wid: int, depth: int) -> int | None:
        """The window carrying WM_STATE at or below ``wid`` (the ICCCM client window)."""
        win = self._d.create_resource_object("window", wid)
        try:
            if win.get_full_property(self._atoms["WM_STATE"], X.AnyPropertyType) is not None:
                return wid
            if depth > 3:
                return None
            for sub in win.query_tree().children:
                found = self._find_client(sub.id, depth + 1)
                if found is not None:
                    return found
        except xerror.XError:
            return None
        return None

    def _client_for(self, wid: int) -> int | None:
        if wid in self._client_of:
            return self._client_of[wid]
        # Walk up to the root child, then to its client.
        cur = wid
        for _ in range(8):
            if cur in self._children:
                client = self._children[cur].client
                self._client_of[wid] = client
                return client
            if cur in self._info:
                return cur
            try:
                parent = self._d.create_resource_object("window", cur).query_tree().parent
            except xerror.XError:
                return None
            pid = parent if isinstance(parent, int) else parent.id
            if pid in (0, self._root.id):
                break
            cur = pid
        # A window that is its own client (WM_STATE on it but not reparented).
        client = self._find_client(wid, depth=3)
        self._client_of[wid] = client
        return client

    def _read_active(self) -> int | None:
        try:
            prop = self._root.get_full_property(self._atoms["_NET_ACTIVE_WINDOW"], Xatom.WINDOW)
        except xerror.XError:
            return None
        if prop is None or not len(prop.value) or not prop.value[0]:
            return None
        return self._client_for(int(prop.value[0])) or int(prop.value[0])

    def _note_trail(self, child: _Child) -> None:
        if not child.mapped:
            return
        info = self._info_for(child.client) if child.client else self._popup_owner(child)
        self._trail.setdefault(child.wid, []).append(
            StackEntry(child.wid, child.rect, info, child.override_redirect)
        )

    # --- identity ---------------------------------------------------------------------------------
    def _atom_name(self, atom: int) -> str:
        name = self._atom_names.get(atom)
        if name is None:
            try:
                name = self._d.get_atom_name(atom)
            except xerror.XError:
                name = ""
            self._atom_names[atom] = name
        return name

    def _text_prop(self, win: object, name: str, utf8: bool) -> str | None:
        atom = self._atoms[name]
        prop = win.get_full_property(atom, self._atoms["UTF8_STRING"] if utf8 else X.AnyPropertyType)  # type: ignore[attr-defined]
        if prop is None:
            return None
        value = prop.value
        if isinstance(value, bytes):
            return value.decode("utf-8" if utf8 else "latin-1", "replace")
        return str(value)

    def _info_for(self, wid: int | None) -> WindowInfo | None:
        if wid is None:
            return None
        cached = self._info.get(wid)
        if cached is not None:
            return cached
        win = self._d.create_resource_object("window", wid)
        try:
            title = self._text_prop(win, "_NET_WM_NAME", True)
            if title is None:
                title = self._text_prop(win, "WM_NAME", False) or ""
            cls = win.get_wm_class() or ("", "")
            role = self._text_prop(win, "WM_WINDOW_ROLE", False) or ""
            pid_prop = win.get_full_property(self._atoms["_NET_WM_PID"], Xatom.CARDINAL)
            pid = int(pid_prop.value[0]) if pid_prop is not None and len(pid_prop.value) else self._res_pid(wid)
            st = win.get_full_property(self._atoms["_NET_WM_STATE"], Xatom.ATOM)
            states = tuple(sorted(self._atom_name(a).removeprefix("_NET_WM_STATE_").lower()
                                  for a in (st.value if st is not None else [])))
            ext = win.get_full_property(self._atoms["_NET_FRAME_EXTENTS"], Xatom.CARDINAL)
            extents = tuple(int(v) for v in ext.value) if ext is not None and len(ext.value) == 4 else None
        except xerror.XError:
            return None
        info = WindowInfo(
            window_id=wid,
            wm_instance=cls[0] or "",
            wm_class=cls[1] or "",
            title=title,
            pid=pid,
            process=_process_name(pid),
            geometry=Rect(0, 0, 0, 0),
            role=role,
            states=states,
        )
        self._info[wid] = info
        self._extents[wid] = extents
        return info

    def _res_pid(self, wid: int) -> int | None:
        if not self._has_res:
            return None
        try:
            reply = self._d.res_query_client_ids([{"client": wid, "mask": 2}])  # LocalClientPID
        except (xerror.XError, AttributeError):
            return None
        for cid in reply.ids:
            if cid.value:
                return int(cid.value[0])
        return None

    def _popup_owner(self, child: _Child) -> WindowInfo | None:
        """Override-redirect windows are attributed to the client sharing their resource base."""
        base = child.wid & ~self._id_mask
        for other in self._children.values():
            if other.client is not None and (other.client & ~self._id_mask) == base:
                return self._info_for(other.client)
        return None

    # --- snapshots ----------------------------------------------------------------------------------
    def _make_snapshot(self) -> Snapshot:
        entries: list[StackEntry] = []
        for wid in self._order:
            child = self._children.get(wid)
            if child is None or not child.mapped:
                continue
            info: WindowInfo | None
            if child.client is not None:
                base = self._info_for(child.client)
                info = base and replace(base, geometry=self._client_rect(child), frame=child.rect)
            else:
                info = self._popup_owner(child)
            entries.append(StackEntry(wid, child.rect, info, child.override_redirect))
        return Snapshot(tuple(entries), time.monotonic(), self._root_rect)

    def _client_rect(self, child: _Child) -> Rect:
        ext = self._extents.get(child.client) if child.client else None
        if not ext:
            return child.rect
        left, right, top, bottom = ext
        r = child.rect
        return Rect(r.x + left, r.y + top, max(0, r.width - left - right), max(0, r.height - top - bottom))


def _process_name(pid: int | None) -> str | None:
    if not pid:
        return None
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip() or None
    except OSError:
        return None
