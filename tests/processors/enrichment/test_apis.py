"""API catalog: API, version and endpoint template of a request from OpenAPI 3 documents.

The catalog in tests/data/openapi/catalog.yaml holds three APIs that tell their version
three ways: Orders (path segment, v1 and v2 with `servers: /v2`), Payments (a header, two
JSON documents) and Reports (a query parameter, OpenAPI 3.1 split over two files).
"""

from __future__ import annotations

import random
import re
import string
import uuid
from pathlib import Path

import pytest

from processors.enrichment.apis import CACHE_SIZE, ApiCatalog, CatalogError, EndpointMatch

DATA = Path(__file__).parents[2] / "data" / "openapi"
BROKEN = DATA / "broken"
DOCS = Path(__file__).parents[3] / "docs" / "apis.md"
STRIPE_CHARGE = "ch_3MmlLrLkdIwHu7ix0snN0B15"


@pytest.fixture(scope="module")
def catalog() -> ApiCatalog:
    return ApiCatalog.load(DATA / "catalog.yaml")


def _match(api: str, version: str, endpoint: str, operation_id: str = "") -> EndpointMatch:
    return EndpointMatch(api, version, endpoint, operation_id, "matched")


def test_issue_example(catalog):
    assert catalog.match("orders", "GET", "/v2/orders/8842") == EndpointMatch(
        "Orders API", "v2", "/orders/{id}", "getOrderV2", "matched"
    )


@pytest.mark.parametrize(
    ("method", "path", "expected"),
    [
        ("GET", "/v2/orders/search", _match("Orders API", "v2", "/orders/search", "searchOrders")),
        ("POST", "/v2/orders", _match("Orders API", "v2", "/orders", "createOrderV2")),
        ("PATCH", "/v2/orders/ord_9/", _match("Orders API", "v2", "/orders/{id}", "updateOrderV2")),
        ("HEAD", "/v2/orders/ord_9", _match("Orders API", "v2", "/orders/{id}")),
        (
            "GET",
            "/v2/orders/ord_9/items/3",
            _match("Orders API", "v2", "/orders/{id}/items/{itemId}", "getOrderItem"),
        ),
        (
            "GET",
            "/v2/orders/search/items/3",
            _match("Orders API", "v2", "/orders/{id}/items/{itemId}", "getOrderItem"),
        ),
        (
            "GET",
            "/v2/orders/ord_9/invoice.pdf",
            _match("Orders API", "v2", "/orders/{id}/invoice.{format}", "getInvoice"),
        ),
        (
            "POST",
            "/v2/carts/c81/checkout",
            _match("Orders API", "v2", "/carts/{cartId}/checkout", "checkoutCart"),
        ),
        ("GET", "/v1/orders/12", _match("Orders API", "v1", "/orders/{orderId}", "getOrder")),
        ("DELETE", "/v1/orders/12", _match("Orders API", "v1", "/orders/{orderId}", "cancelOrder")),
        (
            "get",
            "/v1/orders/12/items",
            _match("Orders API", "v1", "/orders/{orderId}/items", "listOrderItems"),
        ),
        (
            "GET",
            "/v1/customers/c-77/orders",
            _match("Orders API", "v1", "/customers/{customerId}/orders", "listCustomerOrders"),
        ),
        ("GET", "/orders/12", _match("Orders API", "v1", "/orders/{orderId}", "getOrder")),
        ("GET", "/health", _match("Orders API", "v1", "/health", "health")),
        (
            "GET",
            "/v9/orders/8842",
            EndpointMatch("Orders API", "v9", "/orders/{id}", "", "none"),
        ),
        (
            "GET",
            "/v2/customers/77/wishlist",
            EndpointMatch("Orders API", "v2", "/customers/{id}/wishlist", "", "unmatched"),
        ),
        (
            "GET",
            "/v1/orders/12/items/3",
            EndpointMatch("Orders API", "v1", "/orders/{id}/items/{id}", "", "unmatched"),
        ),
        ("GET", "/v2", EndpointMatch("Orders API", "v2", "/", "", "unmatched")),
    ],
)
def test_version_from_path(catalog, method, path, expected):
    assert catalog.match("orders", method, path) == expected


def test_api_from_base_path_when_the_gateway_api_is_not_routed(catalog):
    assert catalog.match("edge", "GET", "/v2/orders/8842") == _match(
        "Orders API", "v2", "/orders/{id}", "getOrderV2"
    )
    assert catalog.match("", "GET", "/payments/refunds/re_1") == _match(
        "Payments API", "2023-10-16", "/refunds/{refund}", "RetrieveRefund"
    )
    assert catalog.match("edge", "GET", "/payments-legacy/refunds/re_1") == EndpointMatch(
        "Orders API", "v1", "/payments-legacy/refunds/re_1", "", "unmatched"
    )


@pytest.mark.parametrize(
    ("method", "path", "headers", "expected"),
    [
        (
            "POST",
            f"/payments/charges/{STRIPE_CHARGE}/refunds",
            {},
            _match("Payments API", "2023-10-16", "/charges/{charge}/refunds", "CreateChargeRefund"),
        ),
        (
            "POST",
            "/payments/payment_intents/pi_3Mtw/confirm",
            {"payments-version": "2024-06-20"},
            _match(
                "Payments API",
                "2024-06-20",
                "/payment_intents/{intent}/confirm",
                "ConfirmPaymentIntent",
            ),
        ),
        (
            "GET",
            "/payments/charges/ch_1",
            {"Payments-Version": " 2024-06-20 "},
            _match("Payments API", "2024-06-20", "/charges/{charge}", "RetrieveCharge"),
        ),
        (
            "POST",
            f"/payments/charges/{STRIPE_CHARGE}/capture",
            {"payments-version": "2024-06-20"},
            EndpointMatch("Payments API", "2024-06-20", "/charges/{id}/capture", "", "unmatched"),
        ),
        (
            "GET",
            "/payments/charges/ch_1",
            {"payments-version": "2025-01-01"},
            EndpointMatch("Payments API", "2025-01-01", "/charges/ch_1", "", "none"),
        ),
        (
            "GET",
            "/payments/charges/ch_1",
            {"payments-version": "latest"},
            _match("Payments API", "2023-10-16", "/charges/{charge}", "RetrieveCharge"),
        ),
        ("GET", "/payments", {}, EndpointMatch("Payments API", "2023-10-16", "/", "", "unmatched")),
    ],
)
def test_version_from_header(catalog, method, path, headers, expected):
    assert catalog.match("payments", method, path, headers=headers) == expected


@pytest.mark.parametrize(
    ("method", "path", "query", "expected"),
    [
        (
            "GET",
            "/analytics/reports",
            "",
            _match("Reports API", "2024-01-01", "/reports", "Reports_List"),
        ),
        (
            "GET",
            "/analytics/reports/summary",
            "api-version=2024-01-01",
            _match("Reports API", "2024-01-01", "/reports/summary", "Reports_Summary"),
        ),
        (
            "GET",
            "/analytics/reports/weekly",
            "top=5&api-version=2024-01-01",
            _match("Reports API", "2024-01-01", "/reports/{reportId}", "Reports_Get"),
        ),
        (
            "GET",
            "/analytics/reports/r-2024-06.csv",
            "api-version=2024-01-01&api-version=2025-01-01",
            _match("Reports API", "2024-01-01", "/reports/{reportId}.{format}", "Reports_Export"),
        ),
        (
            "POST",
            "/analytics/reports/weekly:run",
            "api%2Dversion=2024-01-01",
            _match("Reports API", "2024-01-01", "/reports/{reportId}:run", "Reports_Run"),
        ),
        (
            "DELETE",
            "/analytics/schedules/s-1",
            "",
            _match("Reports API", "2024-01-01", "/schedules/{scheduleId}", "Schedules_Delete"),
        ),
        (
            "GET",
            "/analytics/reports/weekly",
            "api-version=2024-07-01-preview",
            EndpointMatch("Reports API", "2024-07-01-preview", "/reports/weekly", "", "none"),
        ),
        (
            "GET",
            "/analytics/reports/weekly",
            "api-version=" + "9" * 40,
            _match("Reports API", "2024-01-01", "/reports/{reportId}", "Reports_Get"),
        ),
    ],
)
def test_version_from_query(catalog, method, path, query, expected):
    assert catalog.match("reports", method, path, query=query) == expected


def test_requests_outside_the_catalog_keep_the_gateway_api():
    catalog = ApiCatalog.load(DATA / "catalog-by-gateway.yaml")
    assert catalog.match("billing", "GET", "/v1/invoices/77") == EndpointMatch(
        "billing", "", "/v1/invoices/{id}", "", "none"
    )
    assert catalog.match("billing", "GET", "/analytics/reports/7") == _match(
        "Reports API", "2024-01-01", "/reports/{reportId}", "Reports_Get"
    )
    # routed by gateway API, the path does not start with the base path: nothing is stripped
    assert catalog.match("reports", "GET", "/reports/summary") == _match(
        "Reports API", "2024-01-01", "/reports/summary", "Reports_Summary"
    )


def test_empty_catalog_folds_the_whole_path():
    assert ApiCatalog.empty().match("orders", "GET", "/v2/orders/8842") == EndpointMatch(
        "orders", "", "/v2/orders/{id}", "", "none"
    )


def test_document_details(tmp_path):
    """Server variables, same-document path item $ref, and `/a` vs `/a/` merged."""
    (tmp_path / "spec.yaml").write_text(
        """\
openapi: 3.1.0
info: {title: Things, version: "3"}
servers:
  - url: "{scheme}://things.example/{stage}/v3"
    variables:
      scheme: {default: https}
      stage: {default: prod}
paths:
  /things:
    get: {operationId: listThings, responses: {"200": {description: ok}}}
  /things/:
    get: {operationId: listThingsSlash, responses: {"200": {description: ok}}}
    post: {operationId: createThing, responses: {"201": {description: created}}}
  /things/{thingId}:
    $ref: "#/components/pathItems/Thing"
components:
  pathItems:
    Thing:
      parameters: [{name: thingId, in: path, required: true, schema: {type: string}}]
      get: {operationId: getThing, responses: {"200": {description: ok}}}
""",
        encoding="utf-8",
    )
    (tmp_path / "apis.yaml").write_text(
        "apis: [{name: Things, version: {default: '3'}, specs: {'3': spec.yaml}}]\n",
        encoding="utf-8",
    )
    catalog = ApiCatalog.load(tmp_path / "apis.yaml")
    assert catalog.match("", "GET", "/prod/v3/things/") == _match(
        "Things", "3", "/things", "listThings"
    )
    assert catalog.match("", "POST", "/prod/v3/things") == _match(
        "Things", "3", "/things", "createThing"
    )
    assert catalog.match("", "GET", "/prod/v3/things/t1") == _match(
        "Things", "3", "/things/{thingId}", "getThing"
    )
    assert catalog.match("", "GET", "/things/t1") == _match(
        "Things", "3", "/things/{thingId}", "getThing"
    )


def _random_id(rng: random.Random) -> str:
    kind = rng.randrange(5)
    if kind == 0:
        return str(rng.randrange(10**12))
    if kind == 1:
        return str(uuid.UUID(int=rng.getrandbits(128)))
    if kind == 2:
        return f"{rng.getrandbits(160):040x}"
    if kind == 3:
        return f"{rng.getrandbits(256):064x}"
    alphabet = string.ascii_letters + string.digits
    prefix = rng.choice(("ch", "pi", "cus", "sub"))
    return f"{prefix}_{rng.randrange(1, 10)}" + "".join(rng.choices(alphabet, k=23))


def test_cardinality_stays_bounded_on_random_ids(catalog):
    rng = random.Random(5)
    shapes = [
        ("orders", "/v2/customers/{}/wishlist", {}, ""),
        ("orders", "/v2/orders/{}/returns/{}", {}, ""),
        ("orders", "/v7/orders/{}", {}, ""),
        ("payments", "/payments/customers/{}/sources", {"payments-version": "2024-06-20"}, ""),
        ("reports", "/analytics/exports/{}", {}, "api-version=2024-01-01"),
    ]
    seen = set()
    for _ in range(100_000):
        api, shape, headers, query = rng.choice(shapes)
        path = shape.format(*(_random_id(rng) for _ in range(shape.count("{}"))))
        seen.add(catalog.match(api, "GET", path, query=query, headers=headers))
    assert seen == {
        EndpointMatch("Orders API", "v2", "/customers/{id}/wishlist", "", "unmatched"),
        EndpointMatch("Orders API", "v2", "/orders/{id}/returns/{id}", "", "unmatched"),
        EndpointMatch("Orders API", "v7", "/orders/{id}", "", "none"),
        EndpointMatch("Payments API", "2024-06-20", "/customers/{id}/sources", "", "unmatched"),
        EndpointMatch("Reports API", "2024-01-01", "/exports/{id}", "", "unmatched"),
    }
    assert catalog._match.cache_info().currsize <= CACHE_SIZE


def test_the_documented_catalog_loads(tmp_path):
    """The example in docs/apis.md, with this folder's documents."""
    example = re.search(r"```yaml\n(.*?)```", DOCS.read_text(encoding="utf-8"), re.S)
    assert example is not None
    (tmp_path / "apis.yaml").write_text(example[1], encoding="utf-8")
    (tmp_path / "openapi").symlink_to(DATA)
    catalog = ApiCatalog.load(tmp_path / "apis.yaml")
    assert catalog.match("orders", "GET", "/v2/orders/8842") == _match(
        "Orders API", "v2", "/orders/{id}", "getOrderV2"
    )


@pytest.mark.parametrize(
    ("name", "problems"),
    [
        (
            "catalog-typos.yaml",
            "apis.0.version.from: expected one of path, header, query, none; "
            "apis.0.base_pth: unknown key; expected one of name, base_path, gateway_apis, "
            "version, specs; apis.1.specs: expected a mapping",
        ),
        (
            "catalog-versions.yaml",
            "apis.0.version.query: only used with from: query; apis.0.specs.2: never used: the "
            "version does not match version.pattern 'v[0-9]+'; apis.1.base_path: expected a path "
            "starting with / (no query, no {parameters}), got 'payments'; "
            "apis.1.version.header: required with from: header",
        ),
        (
            "catalog-bad-specs.yaml",
            "apis.0.specs.v1: orders-no-responses.yaml: invalid OpenAPI 3.0.3: "
            "$.paths['/orders/{orderId}'].get: 'responses' is a required property; "
            "apis.0.specs.v2: orders-v3.yaml: no such file (document paths are relative to the "
            "catalog's folder); apis.0.specs.v3: swagger2.json: Swagger 2.0 is not supported: "
            "convert it to OpenAPI 3 (e.g. with swagger2openapi); apis.1.specs.1: bad-yaml.yaml: "
            "invalid YAML: line 8, column 1: expected ',' or '}', but got '<stream end>'",
        ),
    ],
)
def test_broken_catalog_files(name, problems):
    with pytest.raises(CatalogError) as caught:
        ApiCatalog.load(BROKEN / name)
    assert str(caught.value) == f"{BROKEN / name}: {problems}"


@pytest.mark.parametrize(
    ("catalog_text", "problems"),
    [
        ("- name: Orders API\n", "expected a mapping with an apis list"),
        (
            "apis:\n  - name: Orders API\n    specs: {v1: a.yaml\n",
            "invalid YAML: line 4, column 1: expected ',' or '}', but got '<stream end>'",
        ),
        ("api: []\n", "apis: required; api: unknown key; expected one of apis"),
        ("apis:\n  - base_path: /x\n", "apis.0.name: required"),
        (
            "apis:\n  - name: A\n    version: {from: path, default: 1.0}\n",
            'apis.0.version.default: write the version in quotes ("1.0"): YAML reads it as a number',
        ),
        (
            "apis:\n  - name: A\n  - name: A\n    base_path: /a\n",
            "apis.1.name: 'A' is already used by apis.0",
        ),
        (
            "apis:\n  - name: A\n    gateway_apis: [shop]\n  - name: B\n    base_path: /b\n"
            "    gateway_apis: [shop]\n",
            "apis.1.gateway_apis: 'shop' is already routed to apis.0; route each gateway API to "
            "one API",
        ),
        (
            "apis:\n  - name: A\n    version: {from: header, header: x-v, pattern: 'v(['}\n",
            "apis.0.version.pattern: invalid regex: unterminated character set at position 2",
        ),
        (
            "apis:\n  - name: A\n    version: {default: v1}\n    specs: {v2: orders-v2.yaml}\n",
            "apis.0.specs.v2: never used: with from: none every request has version.default (v1)",
        ),
        (
            "apis:\n  - name: A\n    specs: {'': orders-v1.yaml}\n",
            "apis.0.specs: empty version key; give the API a version.default and use it as the key",
        ),
    ],
)
def test_bad_catalog_text(tmp_path, catalog_text, problems):
    path = tmp_path / "apis.yaml"
    path.write_text(catalog_text, encoding="utf-8")
    for spec in ("orders-v1.yaml", "orders-v2.yaml"):
        (tmp_path / spec).symlink_to(DATA / spec)
    with pytest.raises(CatalogError) as caught:
        ApiCatalog.load(path)
    assert str(caught.value) == f"{path}: {problems}"


@pytest.mark.parametrize(
    ("spec_text", "problem"),
    [
        (
            "openapi: 3.0\ninfo: {title: t, version: '1'}\npaths: {}\n",
            'openapi: write the version in quotes ("3.0")',
        ),
        (
            "openapi: 4.0.0\ninfo: {title: t, version: '1'}\npaths: {}\n",
            "OpenAPI 4.0.0 is not supported: use 3.0, 3.1 or 3.2",
        ),
        ("kind: Deployment\n", "not an OpenAPI document: no openapi key (expected openapi: 3.x.y)"),
        (
            "openapi: 3.1.0\ninfo: {title: t, version: '1'}\npaths:\n  /a/{id}: {$ref: a.yaml}\n",
            "$ref 'a.yaml' cannot be resolved",
        ),
        (
            "openapi: 3.1.0\ninfo: {title: t}\npaths: {}\n",
            "invalid OpenAPI 3.1.0: $.info: 'version' is a required property",
        ),
    ],
)
def test_bad_documents(tmp_path, spec_text, problem):
    (tmp_path / "spec.yaml").write_text(spec_text, encoding="utf-8")
    path = tmp_path / "apis.yaml"
    path.write_text("apis: [{name: A, version: {default: v1}, specs: {v1: spec.yaml}}]\n")
    with pytest.raises(CatalogError) as caught:
        ApiCatalog.load(path)
    assert str(caught.value) == f"{path}: apis.0.specs.v1: spec.yaml: {problem}"


def test_missing_catalog(tmp_path):
    with pytest.raises(CatalogError) as caught:
        ApiCatalog.load(tmp_path / "nope.yaml")
    assert str(caught.value) == f"{tmp_path / 'nope.yaml'}: cannot read: No such file or directory"
