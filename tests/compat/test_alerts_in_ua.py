"""The unmodified alerts_in_ua package (sync Client and AsyncClient), pointed at Tryvoga by
overriding only its base URL, must read back exactly what the native API says."""

import asyncio
import datetime
import time

import aiohttp
import pytest
import requests

import alerts_in_ua
import alerts_in_ua.client
from alerts_in_ua import AsyncClient, Client
from alerts_in_ua.air_raid_alert_oblast_statuses import AirRaidAlertOblastStatuses
from alerts_in_ua.location_uid_resolver import LocationUidResolver

KHARKIV, VINNYTSIA, VINNYTSKYI_RAION, ZAPORIZHZHIA, ODESA, KYIV_OBLAST = 22, 4, 36, 12, 18, 14
ZAPORIZHZHIA_CITY = 564
LETTER = {"active": "A", "partial": "P", "none": "N"}


@pytest.fixture()
def sync_client(server, reader, monkeypatch):
    monkeypatch.setattr(Client, "API_BASE_URL", server)
    return Client(token=reader)


@pytest.fixture()
def async_client(server, reader, monkeypatch):
    monkeypatch.setattr(AsyncClient, "API_BASE_URL", server)
    return AsyncClient(token=reader)


@pytest.fixture()
def scenario(native):
    """A red air raid on Kharkiv oblast, a yellow one on a Vinnytsia raion, shelling on
    Zaporizhzhia city, and a drill on Odesa oblast that no public API may show."""
    alerts = {
        "kharkiv": native.raise_alert(KHARKIV, level="red", note="ballistic missiles"),
        "raion": native.raise_alert(VINNYTSKYI_RAION, level="yellow"),
        "shelling": native.raise_alert(ZAPORIZHZHIA_CITY, "artillery_shelling"),
        "drill": native.raise_alert(ODESA, status="exercise"),
    }
    return alerts


def oblast_uids():
    resolver = LocationUidResolver()
    return [resolver.location_to_uid[title] for title in AirRaidAlertOblastStatuses.LOCATIONS]


def expected_by_oblast(native):
    return "".join(LETTER[native.air_raid_status(uid)] for uid in oblast_uids())


def check_active_alerts(alerts, scenario, native):
    by_id = {a.id: a for a in alerts}
    ids = {a["id"] for a in native.active() if a["status"] == "actual"}
    assert set(by_id) == ids, "the active list must hold exactly the actual active alerts"
    assert scenario["drill"]["id"] not in by_id

    k = by_id[scenario["kharkiv"]["id"]]
    assert (k.location_uid, k.location_oblast_uid, k.location_type) == ("22", 22, "oblast")
    assert k.location_title == "Харківська область" and k.location_title_en == "Kharkiv Oblast"
    assert k.alert_type == "air_raid" and k.is_red() and not k.is_finished()
    assert k.notes == "ballistic missiles" and k.threats == [] and k.calculated is False
    assert isinstance(k.started_at, datetime.datetime) and k.started_at.tzinfo is not None
    assert k.updated_at >= k.started_at

    r = by_id[scenario["raion"]["id"]]
    assert (r.location_uid, r.location_type, r.location_oblast_uid) == ("36", "raion", 4)
    assert r.location_oblast == "Вінницька область" and r.is_yellow()

    s = by_id[scenario["shelling"]["id"]]
    assert s.alert_type == "artillery_shelling" and s.location_uid == "564"
    assert s.location_oblast_uid == ZAPORIZHZHIA and s.location_raion == "Запорізький район"


def test_active_alerts_sync(sync_client, scenario, native):
    alerts = sync_client.get_active_alerts(use_cache=False)
    check_active_alerts(alerts.get_all_alerts(), scenario, native)
    assert {a.id for a in alerts.get_air_raid_alerts()} >= {scenario["kharkiv"]["id"], scenario["raion"]["id"]}
    assert [a.id for a in alerts.get_artillery_shelling_alerts()] == [scenario["shelling"]["id"]]
    assert [a.id for a in alerts.get_red_alerts()] == [scenario["kharkiv"]["id"]]
    assert [a.id for a in alerts.get_yellow_alerts()] == [scenario["raion"]["id"]]
    assert [a.id for a in alerts.get_alerts_by_location_uid("36")] == [scenario["raion"]["id"]]
    assert [a.id for a in alerts.get_alerts_by_oblast_uid(22)] == [scenario["kharkiv"]["id"]]
    assert [a.id for a in alerts.get_alerts_by_location_type("raion")] == [scenario["raion"]["id"]]
    assert [a.id for a in alerts.get_alerts_by_oblast("Вінницька область")] == [scenario["raion"]["id"]]
    assert alerts.get_urban_fights_alerts() == [] and alerts.get_nuclear_alerts() == []
    assert alerts.get_chemical_alerts() == []
    assert alerts.get_alerts_with_threat_type("drone") == []
    assert isinstance(alerts.get_last_updated_at(), datetime.datetime)
    assert alerts.get_disclaimer()
    assert len(alerts) == len(list(iter(alerts)))


def test_active_alerts_async(async_client, scenario, native):
    alerts = asyncio.run(async_client.get_active_alerts(use_cache=False))
    check_active_alerts(alerts.get_all_alerts(), scenario, native)


def check_oblast_statuses(statuses, native, levels):
    assert len(statuses) == 27
    expected = expected_by_oblast(native)
    got = "".join({"active": "A", "partly": "P", "no_alert": "N"}[s.status] for s in statuses)
    assert got == expected
    assert expected[AirRaidAlertOblastStatuses.LOCATIONS.index("Харківська область")] == "A"
    assert expected[AirRaidAlertOblastStatuses.LOCATIONS.index("Вінницька область")] == "P"
    assert expected[AirRaidAlertOblastStatuses.LOCATIONS.index("Одеська область")] == "N"
    if levels:
        assert [s.location_title for s in statuses.get_red_alert_oblasts()] == ["Харківська область"]
        assert statuses.get_yellow_alert_oblasts() == []


def test_iot_by_oblast_sync(sync_client, scenario, native):
    for levels in (False, True):
        s = sync_client.get_air_raid_alert_statuses_by_oblast(use_cache=False, include_alert_level=levels)
        check_oblast_statuses(s, native, levels)
    only = sync_client.get_air_raid_alert_statuses_by_oblast(oblast_level_only=True, use_cache=False)
    assert [o.location_title for o in only.get_partly_active_alert_oblasts()] == []
    assert "Вінницька область" in [o.location_title for o in only.get_no_alert_oblasts()]
    assert [o.location_title for o in only.get_active_alert_oblasts()] == ["Харківська область"]


def test_iot_by_oblast_async(async_client, scenario, native):
    for levels in (False, True):
        s = asyncio.run(async_client.get_air_raid_alert_statuses_by_oblast(use_cache=False, include_alert_level=levels))
        check_oblast_statuses(s, native, levels)


def test_iot_one_location(sync_client, async_client, scenario, native):
    assert sync_client.get_air_raid_alert_status(KHARKIV, use_cache=False).status == "active"
    assert sync_client.get_air_raid_alert_status("Харківська область", use_cache=False).status == "active"
    assert sync_client.get_air_raid_alert_status(VINNYTSIA, use_cache=False).status == "partly"
    assert sync_client.get_air_raid_alert_status(str(VINNYTSIA), oblast_level_only=True, use_cache=False).status == "no_alert"
    raion = sync_client.get_air_raid_alert_status(VINNYTSKYI_RAION, use_cache=False, include_alert_level=True)
    assert raion.status == "active" and raion.is_yellow()
    red = sync_client.get_air_raid_alert_status(KHARKIV, use_cache=False, include_alert_level=True)
    assert red.is_red() and red.is_active_on_all_oblast()
    assert sync_client.get_air_raid_alert_status(ODESA, use_cache=False).is_no_alert()
    assert asyncio.run(async_client.get_air_raid_alert_status(KHARKIV, use_cache=False)).status == "active"
    assert asyncio.run(async_client.get_air_raid_alert_status(KYIV_OBLAST, use_cache=False)).status == "no_alert"


def check_all_statuses(statuses, native, levels):
    resolver = LocationUidResolver()
    assert {s.uid for s in statuses} == set(resolver.uid_to_location), "one status per known uid"
    for uid in [KHARKIV, VINNYTSIA, VINNYTSKYI_RAION, ODESA, ZAPORIZHZHIA, 1293, 124, 31, 29]:
        want = {"active": "active", "partial": "partly", "none": "no_alert"}[native.air_raid_status(uid)]
        assert statuses.get_status(uid).status == want, uid
    assert statuses.get_status(1293).status == "active", "Kharkiv city lies in Kharkiv oblast"
    assert statuses.get_status(VINNYTSIA).location_title == "Вінницька область"
    if levels:
        assert statuses.get_status(KHARKIV).is_red() and statuses.get_status(VINNYTSKYI_RAION).is_yellow()
        assert VINNYTSKYI_RAION in [s.uid for s in statuses.get_yellow_alert_statuses()]
    active = {s.uid for s in statuses.get_active_alert_statuses()}
    assert KHARKIV in active and VINNYTSIA not in active
    assert VINNYTSIA in {s.uid for s in statuses.get_partly_active_alert_statuses()}


def test_iot_all_locations(sync_client, async_client, scenario, native):
    for levels in (False, True):
        check_all_statuses(sync_client.get_air_raid_alert_statuses(use_cache=False, include_alert_level=levels), native, levels)
    check_all_statuses(asyncio.run(async_client.get_air_raid_alert_statuses(use_cache=False, include_alert_level=True)), native, True)


def test_history_returns_the_ended_alerts(sync_client, async_client, native):
    first = native.raise_alert(VINNYTSKYI_RAION, level="red", note="history check")
    ongoing = native.raise_alert(VINNYTSIA, "artillery_shelling")
    native.end(first["id"])
    drill = native.raise_alert(VINNYTSIA, status="exercise")
    for history in (
        sync_client.get_alerts_history(VINNYTSIA, period="week_ago", use_cache=False),
        sync_client.get_alerts_history("Вінницька область", use_cache=False),
        asyncio.run(async_client.get_alerts_history(VINNYTSIA, use_cache=False)),
    ):
        by_id = {a.id: a for a in history}
        assert first["id"] in by_id and ongoing["id"] in by_id and drill["id"] not in by_id
        ended = by_id[first["id"]]
        assert ended.is_finished() and ended.finished_at >= ended.started_at
        assert ended.notes == "history check" and ended.location_uid == "36"
        assert not by_id[ongoing["id"]].is_finished()
        assert all(a.location_oblast_uid == VINNYTSIA for a in history)
    with pytest.raises(alerts_in_ua.ApiError):
        sync_client.get_alerts_history(VINNYTSIA, period="century_ago", use_cache=False)


def test_not_modified_is_served_on_repeat(sync_client, async_client, scenario, native, monkeypatch):
    time.sleep(1.2)  # let the second of the last change end: only then is a copy final
    seen = []
    original = requests.get

    def recording_get(*args, **kwargs):
        r = original(*args, **kwargs)
        seen.append((r.status_code, kwargs.get("headers", {}).get("If-Modified-Since")))
        return r

    monkeypatch.setattr(alerts_in_ua.client.requests, "get", recording_get)
    first = sync_client.get_active_alerts()
    second = sync_client.get_active_alerts()
    assert [s for s, _ in seen] == [200, 304], seen
    assert seen[1][1], "the client sent If-Modified-Since"
    assert [a.id for a in first] == [a.id for a in second]

    native.raise_alert(KYIV_OBLAST)
    seen.clear()
    third = sync_client.get_active_alerts()
    assert [s for s, _ in seen] == [200, 200], "a change is never hidden behind a 304"
    assert len(third) == len(first) + 1

    statuses = []
    original_get = aiohttp.ClientSession.get

    def recording_session_get(self, *args, **kwargs):
        pending = original_get(self, *args, **kwargs)

        async def run():
            response = await pending
            statuses.append(response.status)
            return response

        return run()

    monkeypatch.setattr(aiohttp.ClientSession, "get", recording_session_get)
    time.sleep(1.2)

    async def twice():
        a = await async_client.get_air_raid_alert_statuses_by_oblast()
        b = await async_client.get_air_raid_alert_statuses_by_oblast()
        return a, b

    a, b = asyncio.run(twice())
    assert statuses == [200, 304], statuses
    assert [s.status for s in a] == [s.status for s in b]


def test_token_in_query_string_works_too(server, reader):
    r = requests.get(f"{server}/v1/iot/active_air_raid_alerts_by_oblast.json", params={"token": reader}, timeout=5)
    assert r.status_code == 200 and len(r.json()) == 27
    assert "Last-Modified" in r.headers
