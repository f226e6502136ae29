"""A tiny real X application with buttons at known places, for ground-truth tests (test support).

``python -m jobshadow.testing.buttons`` maps a 520x200 window (WM_CLASS ``jsbuttons``/``JsButtons``)
with three buttons. A button is grey until pressed and green from the moment the mouse button
goes down on it (as toolkits show a pressed button), so a frame from before a click shows it grey
and any frame from after shows it green. A scroll over the window draws a bar one step longer.
It prints ``ready`` once mapped and exits when its window is closed or on SIGTERM.
"""

from __future__ import annotations

import sys

from Xlib import X, display

WIDTH, HEIGHT = 520, 200
# (x, y, width, height) inside the window; the tests click at the centres.
BUTTONS = ((40, 40, 120, 60), (200, 40, 120, 60), (360, 40, 120, 60))
GREY, GREEN, WHITE, BLUE = 0x808080, 0x20C040, 0xFFFFFF, 0x2040C0


def centre(i: int) -> tuple[int, int]:
    x, y, w, h = BUTTONS[i]
    return x + w // 2, y + h // 2


def main() -> int:
    d = display.Display()
    screen = d.screen()
    win = screen.root.create_window(0, 0, WIDTH, HEIGHT, 0, screen.root_depth, X.InputOutput, X.CopyFromParent,
                                    background_pixel=WHITE,
                                    event_mask=X.ExposureMask | X.ButtonPressMask | X.StructureNotifyMask)
    win.set_wm_class("jsbuttons", "JsButtons")
    win.set_wm_name("Ground truth buttons")
    delete = d.intern_atom("WM_DELETE_WINDOW")
    win.set_wm_protocols([delete])
    gc = win.create_gc(foreground=GREY)
    pressed = [False] * len(BUTTONS)
    scrolls = 0

    def draw() -> None:
        for (x, y, w, h), on in zip(BUTTONS, pressed, strict=True):
            gc.change(foreground=GREEN if on else GREY)
            win.fill_rectangle(gc, x, y, w, h)
        gc.change(foreground=BLUE)
        if scrolls:
            win.fill_rectangle(gc, 40, 140, min(440, 20 * scrolls), 20)
        d.flush()

    win.map()
    d.flush()
    print("ready", flush=True)
    while True:
        ev = d.next_event()
        if ev.type == X.Expose and ev.count == 0:
            draw()
        elif ev.type == X.ButtonPress and ev.detail == 1:
            for i, (x, y, w, h) in enumerate(BUTTONS):
                if x <= ev.event_x < x + w and y <= ev.event_y < y + h:
                    pressed[i] = True
            draw()
        elif ev.type == X.ButtonPress and ev.detail in (4, 5):
            scrolls += 1
            draw()
        elif (ev.type == X.ClientMessage and ev.data[1][0] == delete) or ev.type == X.DestroyNotify:
            return 0


if __name__ == "__main__":
    sys.exit(main())
