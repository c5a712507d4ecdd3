"""What gunicorn serves in the bench: the portal exactly as wsgi.py builds it, plus a bare `/bench-hello`
route on the same server, the floor against which page latencies are compared."""
from wsgi import app


@app.route("/bench-hello")
def bench_hello():
    return "hello"
