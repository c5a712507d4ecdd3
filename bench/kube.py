"""`python -m bench.kube --port P`: the portal's emulated cluster, plus `/_bench/pods` to load thousands of pods at
once.

Provisioning 10,000 instances through the API would take the bench longer than the sweeps it measures, so
pods are put straight into the emulator's store (they are scheduled and become ready as any pod does).
POST /_bench/pods {"pods": [{"namespace", "name", "labels", "containers": [names]}]} creates them;
POST /_bench/pods {"delete": [{"namespace", "name"}]} removes some (a changed instance for the sweep).
GET /_bench/bytes answers the API's bytes sent since the last DELETE /_bench/bytes (watch streams included, as
they are sent), for the watch scenario's API bytes per minute.
Requests to /_bench/ are not counted in the emulator's API request log.
"""
import argparse
import json
import sys

from werkzeug.wrappers import Request

from emulators.kube import EmulatedCluster
from emulators.kube.server import ApiServer
from emulators.serving import json_response, serve_until_signal


def pod_object(spec: dict) -> dict:
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": spec["name"], "namespace": spec["namespace"], "labels": spec["labels"]},
            "spec": {"containers": [{"name": name, "image": spec.get("image", "busybox:1.36")}
                                    for name in spec["containers"]]}}


class BenchCluster(EmulatedCluster):
    bytes_sent = 0

    def _counted(self, body):
        try:
            for chunk in body:
                self.bytes_sent += len(chunk)
                yield chunk
        finally:
            if hasattr(body, "close"):
                body.close()

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

    thread_name = "bench-kube-api"

    def wsgi_app(self):
        api = ApiServer(self)

        def app(environ, start_response):
            request = Request(environ)
            if request.path == "/_bench/pods" and request.method == "POST":
                return json_response(self.bulk(json.loads(request.get_data())))(environ, start_response)
            if request.path == "/_bench/bytes":
                if request.method == "DELETE":
                    self.bytes_sent = 0
                return json_response({"bytes": self.bytes_sent})(environ, start_response)
            if request.path.startswith("/_emulator"):
                return api(environ, start_response)
            return self._counted(api(environ, start_response))
        return app

def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.kube")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--ready-delay", type=float, default=0.0)
    parser.add_argument("--nodes", type=int, default=3)
    args = parser.parse_args(argv)
    cluster = BenchCluster(ready_delay=args.ready_delay, node_count=args.nodes, namespace_grace=0.1)
    return serve_until_signal(cluster, args.host, args.port, ["bench cluster at {url}"])

if __name__ == "__main__":
    sys.exit(main())
