"""Metrics, schema checks and fault injection."""
import json
import os
import sqlite3
import unittest

from tests.helpers import RunningShop


class OperationsTest(unittest.TestCase):
    def setUp(self):
        self.app = RunningShop()

    def tearDown(self):
        self.app.close()

    def test_metrics_count_requests(self):
        self.app.request("/api/items", "POST", {"name": "pen", "price": 1})
        self.app.request("/api/items")
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
