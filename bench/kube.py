"""`python -m bench.kube --port P`: the portal's emulated cluster, plus `/_bench/pods` to load thousands of pods at once.

Provisioning 10,000 instances through the API would take the bench longer than the sweeps it measures, so
pods are put straight into the emulator's store (they are scheduled and become ready as any pod does).
POST /_bench/pods {"pods": [{"namespace", "name", "labels", "containers": [names]}]} creates them;
POST /_bench/pods {"delete": [{"namespace", "name"}]} removes some (a changed instance for the sweep).
Requests to /_bench/ are not counted in the emulator's API request log.
"""
import argparse
import json
import signal
import sys
import threading

from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from portal.emulators.kube import EmulatedCluster
from portal.emulators.kube.cluster import _QuietHandler
from portal.emulators.kube.server import ApiServer


def pod_object(spec: dict) -> dict:
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": spec["name"], "namespace": spec["namespace"], "labels": spec["labels"]},
            "spec": {"containers": [{"name": name, "image": spec.get("image", "busybox:1.36")}
                                    for name in spec["containers"]]}}


class BenchCluster(EmulatedCluster):
    def bulk(self, body: dict) -> dict:
        state = self.state
        with state.lock:
            state.settle()
            for spec in body.get("pods", []):
                state.create_object(pod_object(spec), "bench")
            for spec in body.get("delete", []):
                state.remove("Pod", spec["namespace"], spec["name"])
            state.settle()
            return {"pods": sum(1 for _ in state.each("Pod"))}

    def start(self, host: str = "127.0.0.1", port: int = 0) -> "BenchCluster":
        api = ApiServer(self)

        def app(environ, start_response):
            request = Request(environ)
            if request.path == "/_bench/pods" and request.method == "POST":
                response = Response(json.dumps(self.bulk(json.loads(request.get_data()))),
                                    content_type="application/json")
                return response(environ, start_response)
            return api(environ, start_response)

        self._server = make_server(host, port, app, threaded=True, request_handler=_QuietHandler)
        self.url = f"http://{host}:{self._server.server_port}"
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="bench-kube-api", daemon=True)
        self._thread.start()
        return self


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.kube")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--ready-delay", type=float, default=0.0)
    parser.add_argument("--nodes", type=int, default=3)
    args = parser.parse_args(argv)
    cluster = BenchCluster(ready_delay=args.ready_delay, node_count=args.nodes, namespace_grace=0.1)
    cluster.start(host=args.host, port=args.port)

    def stop(*_):
        cluster.stopping.set()

    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, stop)
    print(f"bench cluster at {cluster.url}", flush=True)
    cluster.serve_forever()
    cluster.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
