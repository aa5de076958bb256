"""Web Push rules that need no server: what each push-service answer means, Retry-After,
the payload's size bound, Urgency, the VAPID key formats, the SSRF rule on literal hosts,
and the hub telling receipts only about watched users."""

from __future__ import annotations

import base64
import email.utils
import time
from pathlib import Path
from urllib.parse import quote

import orjson
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from app.core.config import PUSH_SERVICES
from app.core.connection import Route, Subscription
from app.core.hub import Hub
from app.db.repositories.push_outbox import PushedNotification
from app.push.endpoints import EndpointRule, Resolve, UnsafeEndpoint, endpoint_origin, is_public
from app.push.payload import MAX_PAYLOAD_BYTES, push_payload, urgency
from app.push.sender import outcome_of, parse_retry_after
from app.push.vapid import load_vapid_key


@pytest.mark.parametrize(
    ("status", "result"),
    [(201, "delivered"), (202, "delivered"), (404, "gone"), (410, "gone"), (429, "retry"),
     (500, "retry"), (503, "retry"), (400, "failed"), (403, "failed"), (413, "failed")],
)  # fmt: skip
def test_each_push_service_answer_has_its_outcome(status: int, result: str) -> None:
    assert outcome_of(status, None).result == result


def test_retry_after_in_seconds_or_as_a_date_and_capped() -> None:
    assert outcome_of(429, "7").retry_after == 7
    soon = email.utils.formatdate(time.time() + 30, usegmt=True)
    assert 28 <= (parse_retry_after(soon) or 0) <= 30
    assert parse_retry_after("99999999") == 3600
    assert parse_retry_after("soon") is None and parse_retry_after(None) is None


def pushed(message: str, priority: str = "normal") -> PushedNotification:
    return PushedNotification(7, "t", "T" * 200, message, 3, priority, "Salon & Co")


def test_a_long_title_and_salon_name_are_cut_too() -> None:
    long = PushedNotification(7, "t" * 100, "\x01" * 200, "\x01" * 5000, 3, "high", "😀" * 5000)
    body = orjson.loads(push_payload(long))
    assert len(push_payload(long)) <= MAX_PAYLOAD_BYTES
    assert body["message"] == "…" and body["url"].endswith(quote("…"))
    assert body["title"] == long.title  # the message and the salon's name gave way first
    longer = PushedNotification(7, "t", "é" * 5000, "hello", None, "low", "Salon")
    assert len(push_payload(longer)) <= MAX_PAYLOAD_BYTES
    assert orjson.loads(push_payload(longer))["title"].endswith("é…")


@pytest.mark.parametrize("character", ["x", "é", '"', "\x01", "😀"])
def test_a_long_message_is_cut_to_fit_3_kib_on_a_character(character: str) -> None:
    body = push_payload(pushed(character * 5000))
    assert len(body) <= MAX_PAYLOAD_BYTES
    message = orjson.loads(body)["message"]
    assert message.endswith("…") and set(message[:-1]) == {character}
    # Not cut more than needed: one more character would not fit.
    longer = orjson.loads(body)
    longer["message"] = character * len(message) + "…"
    assert len(orjson.dumps(longer)) > MAX_PAYLOAD_BYTES


def test_a_short_payload_is_whole_with_the_salon_in_the_url() -> None:
    payload = orjson.loads(push_payload(pushed("hello")))
    assert payload["message"] == "hello"
    assert payload["url"] == "/?notification=7&salon=Salon+%26+Co"


def test_urgency_from_priority() -> None:
    assert [urgency(p) for p in ("low", "normal", "high", "urgent")] == [
        "low", "normal", "high", "high",
    ]  # fmt: skip


def test_vapid_key_as_pem_or_raw_is_the_same_key(tmp_path: Path) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    raw = base64.urlsafe_b64encode(key.private_numbers().private_value.to_bytes(32)).rstrip(b"=")
    from_pem = load_vapid_key(pem, "mailto:a@example.com", tmp_path / "unused")
    from_raw = load_vapid_key(raw.decode(), "mailto:a@example.com", tmp_path / "unused")
    assert from_pem.public_key == from_raw.public_key
    assert not (tmp_path / "unused").exists()  # a configured key writes no file


def test_an_unset_vapid_key_is_generated_once_into_a_private_file(tmp_path: Path) -> None:
    path = tmp_path / ".salon-vapid"
    first = load_vapid_key("", "mailto:a@example.com", path)
    assert path.stat().st_mode & 0o777 == 0o600
    assert load_vapid_key("", "mailto:a@example.com", path).public_key == first.public_key
    assert list(tmp_path.iterdir()) == [path]  # no temporary file left behind


def test_a_non_p256_vapid_key_is_refused() -> None:
    pem = ec.generate_private_key(ec.SECP384R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    with pytest.raises(ValueError, match="P-256"):
        load_vapid_key(pem.decode(), "mailto:a@example.com")


ANY_HOST = EndpointRule(("*",))  # the allowlist off: the address rule alone


@pytest.mark.parametrize(
    "endpoint",
    ["https://127.0.0.1/x", "https://10.0.0.1/x", "https://172.16.0.1/x", "https://192.168.1.1/x",
     "https://169.254.169.254/x", "https://100.64.0.1/x", "https://[::1]/x", "https://[fe80::1]/x",
     "https://[fc00::1]/x", "https://[::ffff:10.0.0.1]/x", "https://224.0.0.1/x",
     "https://0.0.0.0/x", "http://8.8.8.8/x", "ftp://8.8.8.8/x", "https://u:p@8.8.8.8/x",
     "https:///x", "https://8.8.8.8:99999/x", "https://8.8.8.8:8443/x"],
)  # fmt: skip
async def test_unsafe_endpoints_are_refused(endpoint: str) -> None:
    with pytest.raises(UnsafeEndpoint):
        await ANY_HOST.check(endpoint)


# An IPv4 address written inside an IPv6 one is judged as that IPv4 address: a private one
# makes it private, a public one public.
@pytest.mark.parametrize(
    ("form", "private", "public"),
    [("IPv4-mapped", "::ffff:10.0.0.1", "::ffff:8.8.8.8"),
     ("IPv4-compatible", "::10.0.0.1", "::8.8.8.8"),
     ("IPv4-compatible loopback", "::127.0.0.1", "::8.8.4.4"),
     ("NAT64", "64:ff9b::10.0.0.1", "64:ff9b::8.8.8.8"),
     ("NAT64 metadata", "64:ff9b::169.254.169.254", "64:ff9b::1.1.1.1"),
     ("6to4", "2002:a00:1::1", "2002:808:808::1"),
     ("6to4 loopback", "2002:7f00:1::", "2002:101:101::"),
     # Teredo: server 65.54.227.120, client 10.0.0.1 / 8.8.8.8 (stored inverted).
     ("Teredo", "2001:0:4136:e378:8000:63bf:f5ff:fffe", "2001:0:4136:e378:8000:63bf:f7f7:f7f7")],
)  # fmt: skip
def test_an_embedded_ipv4_address_is_judged_as_itself(form: str, private: str, public: str) -> None:
    assert not is_public(private), form
    assert is_public(public), form


@pytest.mark.parametrize(
    "address",
    ["fec0::1", "feff:ffff::1", "64:ff9b:1::808:808", "64:ff9b:1:ffff::1", "::", "::1"],
)
def test_site_local_local_nat64_and_unspecified_ipv6_are_private(address: str) -> None:
    assert not is_public(address)


async def test_embedded_and_site_local_literals_are_refused_as_endpoints() -> None:
    for host in ("[64:ff9b::a00:1]", "[2002:a00:1::]", "[::a00:1]", "[fec0::1]"):
        with pytest.raises(UnsafeEndpoint, match="public address"):
            await ANY_HOST.check(f"https://{host}/push/x")


async def test_only_browser_push_services_on_port_443_by_default() -> None:
    rule = EndpointRule(PUSH_SERVICES, resolve=_answers("142.250.74.42"))
    for endpoint in ("https://fcm.googleapis.com/fcm/send/x",
                     "https://updates.push.services.mozilla.com/wpush/v2/x",
                     "https://web.push.apple.com/x", "https://FCM.googleapis.com./x",
                     "https://wns2-db5p.notify.windows.com/w/?token=x",
                     "https://fcm.googleapis.com:443/x"):  # fmt: skip
        assert (await rule.check(endpoint)).addresses == ("142.250.74.42",)
    for endpoint, reason in (("https://push.example.com/x", "push service"),
                             ("https://8.8.8.8/x", "push service"),
                             ("https://push.apple.com/x", "push service"),
                             ("https://fcm.googleapis.com.evil.example/x", "push service"),
                             ("https://evilfcm.googleapis.com/x", "push service"),
                             ("https://fcm.googleapis.com:8443/x", "port 443"),
                             ("http://fcm.googleapis.com/x", "https://")):  # fmt: skip
        with pytest.raises(UnsafeEndpoint, match=reason):
            await rule.check(endpoint)


async def test_public_literal_addresses_pass_and_the_setting_allows_private_ones() -> None:
    await ANY_HOST.check("https://8.8.8.8/push/abc")
    await ANY_HOST.check("https://[2001:4860:4860::8888]/push/abc")
    allow_private = EndpointRule((), allow_private=True)
    assert (await allow_private.check("http://127.0.0.1:9/push/abc")).addresses == ()
    with pytest.raises(UnsafeEndpoint):
        await allow_private.check("ftp://127.0.0.1/x")


def _answers(*addresses: str) -> Resolve:
    async def resolve(host: str, port: int) -> list[str]:
        return list(addresses)

    return resolve


def test_only_the_origin_of_an_endpoint_is_loggable() -> None:
    assert endpoint_origin("https://fcm.googleapis.com/fcm/send/secret") == (
        "https://fcm.googleapis.com"
    )


def test_the_hub_reports_deliveries_to_watched_users_only() -> None:
    hub = Hub(ping_interval=30, max_pending=10)
    reached: list[tuple[int, int]] = []
    hub.on_watched_delivery = lambda n, u: reached.append((n, u))
    watched = hub.register(Subscription("customer", 1, None))
    unwatched = hub.register(Subscription("customer", 2, None))
    hub.watched_users.add(1)
    for customer, note_id in ((1, 10), (2, 11)):
        hub.deliver(Route(note_id, "customer", customer, None, "t", 1, time.time()), b"x")
    assert reached == [(10, 1)]
    hub.unregister(watched)
    hub.unregister(unwatched)


def test_a_subject_push_services_would_refuse_fails_at_start() -> None:
    with pytest.raises(ValueError, match="VAPID_SUBJECT"):
        load_vapid_key(_raw_key(), "mailto:nobody")
    assert load_vapid_key(_raw_key(), "https://salon.example").subject == "https://salon.example"


def _raw_key() -> str:
    value = ec.generate_private_key(ec.SECP256R1()).private_numbers().private_value
    return base64.urlsafe_b64encode(value.to_bytes(32)).rstrip(b"=").decode()
