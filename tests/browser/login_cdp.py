"""Logs in through govgate's login form in a real headless Chromium, typing like a user.

Usage: login_cdp.py DEVTOOLS_PORT LOGIN_URL USERNAME PASSWORD
Speaks the Chrome DevTools protocol over a WebSocket with the standard library only. Prints
one JSON object: the page the browser ended on (url, title, text) and its cookies.
"""
import base64
import json
import os
import socket
import struct
import sys
import time
import urllib.request

DEADLINE = time.monotonic() + 60


class DevTools:
    def __init__(self, ws_url):
        rest = ws_url.split("://", 1)[1]
        hostport, path = rest.split("/", 1)
        host, port = hostport.rsplit(":", 1)
        self.sock = socket.create_connection((host, int(port)), timeout=30)
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall(
            (f"GET /{path} HTTP/1.1\r\nHost: {hostport}\r\nUpgrade: websocket\r\n"
             f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
             "Sec-WebSocket-Version: 13\r\n\r\n").encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.sock.recv(1)
            if not chunk:
                raise RuntimeError("DevTools closed during the handshake")
            head += chunk
        if b" 101 " not in head.split(b"\r\n", 1)[0]:
            raise RuntimeError(f"WebSocket handshake refused: {head!r}")
        self.next_id = 0

    def _exact(self, n):
        data = b""
        while len(data) < n:
            chunk = self.sock.recv(n - len(data))
            if not chunk:
                raise RuntimeError("DevTools closed the connection")
            data += chunk
        return data

    def _send(self, text):
        payload = text.encode()
        mask = os.urandom(4)
        n = len(payload)
        if n < 126:
            header = struct.pack("!BB", 0x81, 0x80 | n)
        elif n < 1 << 16:
            header = struct.pack("!BBH", 0x81, 0x80 | 126, n)
        else:
            header = struct.pack("!BBQ", 0x81, 0x80 | 127, n)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.sock.sendall(header + mask + masked)

    def _receive(self):
        message = b""
        while True:
            b0, b1 = self._exact(2)
            n = b1 & 0x7F
            if n == 126:
                n = struct.unpack("!H", self._exact(2))[0]
            elif n == 127:
                n = struct.unpack("!Q", self._exact(8))[0]
            data = self._exact(n)
            opcode = b0 & 0x0F
            if opcode == 0x8:
                raise RuntimeError("DevTools closed the WebSocket")
            if opcode in (0x9, 0xA):
                continue
            message += data
            if b0 & 0x80:
                return json.loads(message)

    def call(self, method, **params):
        if time.monotonic() > DEADLINE:
            raise RuntimeError("browser session took too long")
        self.next_id += 1
        wanted = self.next_id
        self._send(json.dumps({"id": wanted, "method": method, "params": params}))
        while True:
            reply = self._receive()
            if reply.get("id") == wanted:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})

    def evaluate(self, expression):
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        return result.get("result", {}).get("value")

    def wait_for(self, expression, what):
        while time.monotonic() < DEADLINE:
            try:
                if self.evaluate(expression):
                    return
            except RuntimeError:
                pass  # the page is navigating; ask again
            time.sleep(0.1)
        raise RuntimeError(f"timed out waiting for {what}")

    def type_text(self, text):
        self.call("Input.insertText", text=text)

    def press_enter(self):
        for kind in ("keyDown", "keyUp"):
            self.call("Input.dispatchKeyEvent", type=kind, key="Enter", code="Enter",
                      windowsVirtualKeyCode=13, nativeVirtualKeyCode=13,
                      **({"text": "\r"} if kind == "keyDown" else {}))


def page_target(port):
    while time.monotonic() < DEADLINE:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=5) as r:
                pages = [t for t in json.load(r) if t.get("type") == "page"]
            if pages:
                return pages[0]["webSocketDebuggerUrl"]
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError("no page target in the browser")


def main():
    port, login_url, username, password = sys.argv[1:5]
    tools = DevTools(page_target(port))
    tools.call("Page.enable")
    tools.call("Page.navigate", url=login_url)
    tools.wait_for("document.readyState === 'complete' && !!document.getElementById('password')",
                   "the login form")
    tools.evaluate("document.getElementById('username').focus()")
    tools.type_text(username)
    tools.evaluate("document.getElementById('password').focus()")
    tools.type_text(password)
    # A mark on this document: gone once the browser has loaded the next one.
    tools.evaluate("window.beforeSubmit = true")
    tools.press_enter()
    tools.wait_for("document.readyState === 'complete' && window.beforeSubmit === undefined",
                   "the page after submitting the form")
    cookies = tools.call("Network.getCookies").get("cookies", [])
    print(json.dumps({
        "url": tools.evaluate("location.href"),
        "title": tools.evaluate("document.title"),
        "text": tools.evaluate("document.body.innerText"),
        "cookies": cookies,
    }, ensure_ascii=False))


if __name__ == "__main__":
    try:
        main()
    except Exception as error:  # one line for the Rust test's failure message
        print(json.dumps({"error": str(error)}))
        sys.exit(1)
