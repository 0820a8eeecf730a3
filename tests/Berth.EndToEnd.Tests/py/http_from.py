"""An HTTP GET with busybox nc from inside a container, retried while the server is not yet listening
(run(detach=True) returns before httpd does)."""
import time


def get_when_up(container, address):
    request = "printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 3 " + address + " 80"
    out = b""
    for attempt in range(100):
        code, out = container.exec_run(["sh", "-c", request])
        if b"Remote IP" in out:
            break
        time.sleep(0.2)
    return out.decode()
