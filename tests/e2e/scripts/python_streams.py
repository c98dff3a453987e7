"""The official Python client's streaming calls against a real rkube node:
stream() exec (stdout, stderr, stdin, exit code) and portforward to a busybox
httpd. argv: kubeconfig, namespace, exec pod, httpd pod. Prints "ok"."""

import sys

from kubernetes import client, config
from kubernetes.stream import portforward, stream


def main():
    kubeconfig, ns, shell, httpd = sys.argv[1:5]
    config.load_kube_config(config_file=kubeconfig)
    v1 = client.CoreV1Api()

    # A plain exec: stdout comes back as the string.
    out = stream(v1.connect_get_namespaced_pod_exec, shell, ns,
                 command=["sh", "-c", "echo hello-python"],
                 stderr=True, stdin=False, stdout=True, tty=False)
    assert out == "hello-python\n", repr(out)

    # Interactive: stdin in, stdout and stderr apart, the exit code.
    resp = stream(v1.connect_get_namespaced_pod_exec, shell, ns,
                  command=["sh", "-c", "read x; echo got-$x; echo oops >&2; exit 4"],
                  stderr=True, stdin=True, stdout=True, tty=False,
                  _preload_content=False)
    resp.write_stdin("abc\n")
    stdout, stderr = "", ""
    while resp.is_open():
        resp.update(timeout=5)
        stdout += resp.read_stdout() if resp.peek_stdout() else ""
        stderr += resp.read_stderr() if resp.peek_stderr() else ""
    stdout += resp.read_stdout() or ""
    stderr += resp.read_stderr() or ""
    assert stdout == "got-abc\n", repr(stdout)
    assert stderr == "oops\n", repr(stderr)
    assert resp.returncode == 4, resp.returncode
    resp.close()

    # Port-forward to httpd on 8080 and speak HTTP through the socket.
    pf = portforward(v1.connect_get_namespaced_pod_portforward, httpd, ns,
                     ports="8080")
    sock = pf.socket(8080)
    sock.setblocking(True)
    sock.sendall(b"GET /index.html HTTP/1.0\r\nHost: x\r\n\r\n")
    data = b""
    while True:
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    sock.close()
    assert b"200 OK" in data and b"served-by-busybox" in data, data
    err = pf.error(8080)
    assert err is None, err
    pf.close()
    print("ok")


if __name__ == "__main__":
    main()
