"""Prometheus metrics in the text exposition format, without a client library."""
import threading

BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5)


def _escape(value):
    return str(value).replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(pairs):
    return "{" + ",".join('%s="%s"' % (k, _escape(v)) for k, v in pairs) + "}"


def _num(value):
    if value == int(value):
        return str(int(value))
    return repr(float(value))


class Metrics:
    def __init__(self):
        self.lock = threading.Lock()
        self.requests = {}
        self.durations = {}

    def observe(self, method, path, code, seconds):
        with self.lock:
            key = (method, path, str(code))
            self.requests[key] = self.requests.get(key, 0) + 1
            hkey = (method, path)
            hist = self.durations.get(hkey)
            if hist is None:
                hist = {"buckets": [0] * len(BUCKETS), "sum": 0.0, "count": 0}
                self.durations[hkey] = hist
            for i, bound in enumerate(BUCKETS):
                if seconds <= bound:
                    hist["buckets"][i] += 1
            hist["sum"] += seconds
            hist["count"] += 1

    def render(self, version, items):
        out = []
        out.append("# HELP shop_http_requests_total HTTP requests served, by method, path and status code.")
        out.append("# TYPE shop_http_requests_total counter")
        with self.lock:
            for (method, path, code), count in sorted(self.requests.items()):
                out.append("shop_http_requests_total%s %d" % (_labels([("method", method), ("path", path), ("code", code)]), count))
            out.append("# HELP shop_http_request_duration_seconds Time spent answering HTTP requests.")
            out.append("# TYPE shop_http_request_duration_seconds histogram")
            for (method, path), hist in sorted(self.durations.items()):
                base = [("method", method), ("path", path)]
                for i, bound in enumerate(BUCKETS):
                    out.append("shop_http_request_duration_seconds_bucket%s %d" % (_labels(base + [("le", _num(bound))]), hist["buckets"][i]))
                out.append("shop_http_request_duration_seconds_bucket%s %d" % (_labels(base + [("le", "+Inf")]), hist["count"]))
                out.append("shop_http_request_duration_seconds_sum%s %s" % (_labels(base), repr(hist["sum"])))
                out.append("shop_http_request_duration_seconds_count%s %d" % (_labels(base), hist["count"]))
        out.append("# HELP shop_build_info Build information of the running shop.")
        out.append("# TYPE shop_build_info gauge")
        out.append("shop_build_info%s 1" % _labels([("version", version)]))
        if items is not None:
            out.append("# HELP shop_items Number of items in the catalogue.")
            out.append("# TYPE shop_items gauge")
            out.append("shop_items %d" % items)
        return "\n".join(out) + "\n"
