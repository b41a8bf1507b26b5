"""Metrics, schema checks and fault injection."""
import json
import os
import sqlite3
import time
import unittest

from tests.helpers import RunningShop


class OperationsTest(unittest.TestCase):
    def setUp(self):
        self.app = RunningShop()

    def tearDown(self):
        self.app.close()

    def test_metrics_count_requests(self):
        # A request is counted before its answer is sent, so once the client holds the answer the
        # next /metrics shows it: no race with the server thread that finishes the request.
        self.assertEqual(self.app.request("/api/items", "POST", {"name": "pen", "price": 1})[0], 201)
        self.assertEqual(self.app.request("/api/items")[0], 200)
        status, text = self.app.request("/metrics")
        self.assertEqual(status, 200)
        self.assertIn('shop_http_requests_total{method="GET",path="/api/items",code="200"} 1', text)
        self.assertIn('shop_build_info{version="9.9.9-test"} 1', text)
        self.assertIn("shop_items 1", text)
        self.assertIn('shop_http_request_duration_seconds_bucket{method="GET",path="/api/items",le="0.005"}', text)

    def test_health_fails_on_old_schema(self):
        conn = sqlite3.connect(self.app.config.db)
        conn.execute("DELETE FROM schema_migrations WHERE version = (SELECT MAX(version) FROM schema_migrations)")
        conn.commit()
        conn.close()
        status, body = self.app.request("/health")
        self.assertEqual(status, 503)
        self.assertIn("older", json.loads(body)["reason"])

    def test_fault_file_breaks_api_not_health(self):
        with open(self.app.config.fault_file, "w") as handle:
            handle.write("errors 1\n")
        self.assertEqual(self.app.request("/api/items")[0], 500)
        self.assertEqual(self.app.request("/health")[0], 200)
        os.remove(self.app.config.fault_file)
        self.assertEqual(self.app.request("/api/items")[0], 200)

    def write_fault(self, text):
        with open(self.app.config.fault_file, "w") as handle:
            handle.write(text)

    def codes(self, path, count):
        return [self.app.request(path)[0] for _ in range(count)]

    def test_error_share_is_exact(self):
        self.write_fault("errors 0.25\n")
        codes = self.codes("/api/items", 40)
        self.assertEqual(codes.count(500), 10)
        self.assertEqual(codes[0], 500)  # the first matching request is hit, then every fourth
        self.assertEqual(codes[1:4], [200, 200, 200])

    def test_fault_scoped_to_a_search_term(self):
        self.app.request("/api/items", "POST", {"name": "Blue Lamp", "price": 3})
        self.write_fault("errors 1 q=lamp\n")
        self.assertEqual(self.codes("/api/items?q=LAMP", 3), [500, 500, 500])
        self.assertEqual(self.codes("/api/items?q=mug", 3), [200, 200, 200])
        self.assertEqual(self.codes("/api/items", 3), [200, 200, 200])
        self.assertEqual(self.app.request("/")[0], 200)

    def test_fault_scoped_to_a_path_with_share(self):
        self.app.request("/api/items", "POST", {"name": "cup", "price": 2})
        self.write_fault("errors 0.5 path=/api/items/:id\nlatency 0.2 share=0.5 path=/\n")
        self.assertEqual(self.codes("/api/items/1", 4), [500, 200, 500, 200])
        self.assertEqual(self.codes("/api/items", 2), [200, 200])
        # The decision, not the clock: half of the home page's requests wait 0.2 s, alternately.
        decisions = [self.app.shop.fault_for("/", "") for _ in range(4)]
        self.assertEqual(decisions, [(0.2, False), (0.0, False), (0.2, False), (0.0, False)])
        self.assertEqual(self.app.shop.fault_for("/api/items", "mug"), (0.0, False))

    def test_first_matching_rule_decides(self):
        self.write_fault("errors 0 q=mug\nerrors 1\n")
        self.assertEqual(self.codes("/api/items?q=mug", 2), [200, 200])
        self.assertEqual(self.codes("/api/items?q=pen", 2), [500, 500])

    def test_fault_lines_that_do_not_parse_are_ignored(self):
        self.write_fault("errors lots\nerrors 1 colour=red\nlatency\nerrors 1 share=x\n")
        self.assertEqual(self.codes("/api/items", 2), [200, 200])
