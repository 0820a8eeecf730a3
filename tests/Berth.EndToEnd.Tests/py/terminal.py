"""The docker CLI on a real terminal (a pseudo-terminal this script holds, as a user's xterm would), and a raw
hijacked exec for the daemon's own detach keys.

usage: terminal.py DOCKER_HOST IMAGE NAME_PREFIX [CLIENT]
CLIENT (default: the docker CLI) is the client put on the terminal, e.g. Berth's own; checks go through docker.
Prints "OK <step>" for each step that passed; exits non-zero with the reason on the first that did not.
"""
import fcntl
import json
import os
import select
import signal
import socket
import struct
import subprocess
import sys
import termios
import time

HOST, IMAGE, PREFIX = sys.argv[1], sys.argv[2], sys.argv[3]
CLIENT = sys.argv[4] if len(sys.argv) > 4 else "/usr/local/bin/docker"
SOCKET = HOST[len("unix://"):]
ENV = dict(os.environ, DOCKER_HOST=HOST)
PATIENCE = 20  # seconds: the machine may be loaded


def fail(message):
    print("FAIL " + message)
    sys.exit(1)


def docker(*args, check=True):
    result = subprocess.run(["/usr/local/bin/docker", *args], env=ENV, capture_output=True, text=True, timeout=120)
    if check and result.returncode != 0:
        fail(f"docker {' '.join(args)}: {result.returncode} {result.stderr}")
    return result


class Terminal:
    """The docker CLI with a pseudo-terminal as its stdin, stdout and stderr."""

    def __init__(self, args, rows, cols):
        self.master, slave = os.openpty()
        self.resize(rows, cols)
        self.process = subprocess.Popen([CLIENT, *args], env=ENV, stdin=slave, stdout=slave,
                                        stderr=slave, start_new_session=True)
        os.close(slave)
        self.seen = b""

    def resize(self, rows, cols):
        fcntl.ioctl(self.master, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))

    def resize_and_tell(self, rows, cols):
        """What a terminal emulator does on a window change: the size, then SIGWINCH to the program."""
        self.resize(rows, cols)
        os.kill(self.process.pid, signal.SIGWINCH)

    def send(self, data):
        os.write(self.master, data)

    def read_for(self, seconds):
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            ready, _, _ = select.select([self.master], [], [], 0.1)
            if ready:
                try:
                    chunk = os.read(self.master, 4096)
                except OSError:
                    return False
                if not chunk:
                    return False
                self.seen += chunk
        return True

    def expect(self, text, resend=None, what=""):
        """Waits until the output holds text; resend is typed again every second (the shell may not be up yet)."""
        end = time.monotonic() + PATIENCE
        while text.encode() not in self.seen:
            if time.monotonic() > end:
                fail(f"{what}: {text!r} never came; the terminal showed {self.seen[-600:]!r}")
            if resend is not None:
                self.send(resend)
            if not self.read_for(1.0) and text.encode() not in self.seen:
                fail(f"{what}: the terminal closed before {text!r}; it showed {self.seen[-600:]!r}")

    def wait(self):
        end = time.monotonic() + PATIENCE
        while self.process.poll() is None:
            if time.monotonic() > end:
                self.process.kill()
                fail(f"the docker CLI did not end; the terminal showed {self.seen[-600:]!r}")
            self.read_for(0.2)
        # What the CLI wrote just before it ended is still in the terminal: read it to the end (EIO).
        self.read_for(5.0)
        os.close(self.master)
        return self.process.returncode


def exec_on_a_terminal(container):
    term = Terminal(["exec", "-it", container, "sh"], 33, 101)
    # The shell sees a terminal of the client's size: the CLI sends it with /exec/{id}/resize.
    term.expect("size=33x101", resend=b'echo "size=$(stty size | tr \' \' x)"\n', what="initial size")
    term.send(b"tty; echo end-of-tty\n")
    term.expect("end-of-tty", what="tty")
    if b"/dev/pts/" not in term.seen:
        fail(f"the exec has no terminal: {term.seen[-300:]!r}")
    # A window change reaches the shell's terminal.
    term.resize_and_tell(41, 123)
    term.expect("size=41x123", resend=b'echo "size=$(stty size | tr \' \' x)"\n', what="resize")
    # Raw mode: ctrl-c goes to the container's terminal (interrupting its foreground job), not to the CLI.
    term.send(b"sleep 100; echo after-sleep\n")
    term.read_for(1.0)
    term.send(b"\x03")
    term.send(b"echo still-$((40+2))\n")
    term.expect("still-42", what="ctrl-c interrupts the job, the shell stays")
    term.send(b"exit 7\n")
    code = term.wait()
    if code != 7:
        fail(f"exec's exit code: {code}, expected 7; terminal: {term.seen[-300:]!r}")
    print("OK exec tty")


def exec_detach_keys(container):
    term = Terminal(["exec", "-it", container, "sh"], 24, 80)
    term.expect("ready-1", resend=b"echo ready-$((0+1))\n", what="detach shell")
    term.send(b"sleep 321 &\n")
    term.read_for(0.5)
    term.send(b"\x10\x11")  # ctrl-p ctrl-q
    term.wait()
    # The CLI finds the keys itself, says so and leaves (its exit status is the CLI's own affair).
    if b"read escape sequence" not in term.seen:
        fail(f"exec detach: the CLI did not detach; terminal: {term.seen[-300:]!r}")
    # The shell and its job go on without the client.
    end = time.monotonic() + PATIENCE
    while "sleep 321" not in docker("exec", container, "ps", "-o", "args").stdout:
        if time.monotonic() > end:
            fail("the detached exec's job is gone")
        time.sleep(0.2)
    print("OK exec detach")


def http(method, path, body=None):
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(60)
    sock.connect(SOCKET)
    data = json.dumps(body).encode() if body is not None else b""
    sock.sendall(f"{method} {path} HTTP/1.0\r\nHost: docker\r\nContent-Type: application/json\r\n"
                 f"Content-Length: {len(data)}\r\nConnection: close\r\n\r\n".encode() + data)
    response = b""
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            break
        response += chunk
    sock.close()
    head, _, rest = response.partition(b"\r\n\r\n")
    return int(head.split()[1]), rest


def daemon_detach_keys(container):
    """A client that does not handle the keys itself (docker-py, raw sockets): the daemon finds them."""
    status, body = http("POST", f"/containers/{container}/exec",
                        {"Cmd": ["sh"], "AttachStdin": True, "AttachStdout": True, "Tty": True,
                         "DetachKeys": "ctrl-x,x"})
    if status != 201:
        fail(f"exec create: {status} {body!r}")
    exec_id = json.loads(body)["Id"]
    status, body = http("POST", f"/containers/{container}/exec",
                        {"Cmd": ["sh"], "AttachStdin": True, "Tty": True, "DetachKeys": "ctrl-1"})
    if status != 400 or b"Invalid escape keys (ctrl-1) provided" not in body:
        fail(f"bad detach keys: {status} {body!r}")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(PATIENCE)
    sock.connect(SOCKET)
    body = json.dumps({"Detach": False, "Tty": True}).encode()
    sock.sendall(f"POST /exec/{exec_id}/start HTTP/1.1\r\nHost: docker\r\nContent-Type: application/json\r\n"
                 f"Connection: Upgrade\r\nUpgrade: tcp\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body)
    seen = b""
    while b"\r\n\r\n" not in seen:
        seen += sock.recv(4096)
    if not seen.startswith(b"HTTP/1.1 101"):
        fail(f"exec start: {seen!r}")
    seen = seen.partition(b"\r\n\r\n")[2]
    end = time.monotonic() + PATIENCE
    while b"raw-2" not in seen:
        if time.monotonic() > end:
            fail(f"raw exec never answered: {seen!r}")
        sock.sendall(b"echo raw-$((1+1))\n")
        sock.settimeout(1)
        try:
            seen += sock.recv(4096)
        except socket.timeout:
            pass
    # A ctrl-x not followed by x is typed on; ctrl-x x leaves.
    sock.sendall(b"\x18echo typed-on\n")
    sock.sendall(b"\x18x")
    sock.settimeout(PATIENCE)
    try:
        while True:
            chunk = sock.recv(4096)
            if not chunk:
                break
            seen += chunk
    except socket.timeout:
        fail(f"the daemon did not end the stream on its detach keys: {seen[-300:]!r}")
    sock.close()
    status, body = http("GET", f"/exec/{exec_id}/json")
    state = json.loads(body)
    if status != 200 or not state["Running"]:
        fail(f"the exec should run on after a detach: {status} {body!r}")
    print("OK daemon detach")


def run_on_a_terminal():
    name = PREFIX + "-run"
    since = str(time.time() - 1)
    term = Terminal(["run", "-it", "--name", name, IMAGE, "sh"], 29, 97)
    term.expect("size=29x97", resend=b'echo "size=$(stty size | tr \' \' x)"\n', what="run -it size")
    term.resize_and_tell(31, 111)
    term.expect("size=31x111", resend=b'echo "size=$(stty size | tr \' \' x)"\n', what="run -it resize")
    term.send(b"\x10\x11")  # detach: the container runs on
    code = term.wait()
    if code != 0:
        fail(f"run -it detach: the CLI exited {code}; terminal: {term.seen[-300:]!r}")
    if docker("inspect", "-f", "{{.State.Running}}", name).stdout.strip() != "true":
        fail("the container stopped when its client detached")
    # The docker CLI reads the keys itself and hangs up: the daemon notices the closed connection, as dockerd.
    deadline = time.time() + PATIENCE
    while True:
        events = docker("events", "--since", since, "--until", str(time.time()), "--filter", "container=" + name,
                        "--filter", "event=detach", "--format", "{{.Action}}").stdout.split()
        if events == ["detach"]:
            break
        if time.time() > deadline:
            fail(f"run -it detach: expected one detach event, got {events!r}")
        time.sleep(0.2)
    # attach takes the terminal back; exit ends the container with the shell's code
    term = Terminal(["attach", name], 29, 97)
    term.expect("again-5", resend=b"echo again-$((2+3))\n", what="attach")
    term.send(b"exit 3\n")
    code = term.wait()
    if code != 3:
        fail(f"attach: the CLI exited {code}, expected 3; terminal: {term.seen[-300:]!r}")
    docker("rm", "-f", name)
    print("OK run tty")


container = PREFIX + "-exec"
docker("run", "-d", "--name", container, IMAGE, "sleep", "600")
try:
    exec_on_a_terminal(container)
    exec_detach_keys(container)
    if CLIENT.endswith("/docker"):  # the daemon's side, through raw sockets: once is enough
        daemon_detach_keys(container)
    run_on_a_terminal()
finally:
    docker("rm", "-f", container, PREFIX + "-run", check=False)
