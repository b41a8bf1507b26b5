"""The items API, version and health endpoints."""
import json
import unittest

from tests.helpers import RunningShop


class ApiTest(unittest.TestCase):
    def setUp(self):
        self.app = RunningShop()

    def tearDown(self):
        self.app.close()

    def test_version_is_plain_text(self):
        status, body = self.app.request("/version")
        self.assertEqual(status, 200)
        self.assertEqual(body, "9.9.9-test")

    def test_health_ok(self):
        status, body = self.app.request("/health")
        self.assertEqual(status, 200)
        self.assertEqual(json.loads(body), {"status": "ok", "version": "9.9.9-test"})

    def test_create_and_read_items(self):
        status, body = self.app.request("/api/items", "POST", {"name": "mug", "price": 7.5})
        self.assertEqual(status, 201)
        created = json.loads(body)
        self.assertEqual(created["name"], "mug")
        status, body = self.app.request("/api/items/%d" % created["id"])
        self.assertEqual(status, 200)
        self.assertEqual(json.loads(body)["price"], 7.5)
        status, body = self.app.request("/api/items")
        self.assertEqual([i["name"] for i in json.loads(body)], ["mug"])

    def test_rejects_bad_items(self):
        self.assertEqual(self.app.request("/api/items", "POST", {"name": "", "price": 1})[0], 400)
        self.assertEqual(self.app.request("/api/items", "POST", {"name": "x", "price": -1})[0], 400)
        self.assertEqual(self.app.request("/api/items/999")[0], 404)
