"""The unmodified uasiren package (the ukrainealarm v3 client Home Assistant uses), pointed
at Tryvoga by overriding only its base path, must read back what the native API says: regions
with alerts, a region's status with what it inherits, the last-action index and the tree."""

import asyncio

import aiohttp
import pytest
import requests

from uasiren.client import Client

KYIV_OBLAST, BORYSPIL_RAION, CRIMEA_UA = 14, 78, 9999


@pytest.fixture()
def siren(server, monkeypatch):
    monkeypatch.setattr(Client, "BASE_PATH", f"{server}/api/v3")

    def call(method, *args):
        async def run():
            async with aiohttp.ClientSession() as session:
                return await getattr(Client(session), method)(*args)

        return asyncio.run(run())

    return call


def test_regions_tree(siren):
    tree = siren("get_regions")
    states = tree["states"]
    assert len(states) == 27 and all(s["regionType"] == "State" for s in states)
    ids = {s["regionId"] for s in states}
    assert "9999" in ids and "29" not in ids, "Crimea is 9999 in the ukrainealarm id space"
    vinnytsia = next(s for s in states if s["regionId"] == "4")
    districts = {d["regionId"]: d for d in vinnytsia["regionChildIds"]}
    assert "36" in districts and districts["36"]["regionType"] == "District"
    assert all(c["regionType"] == "Community" for c in districts["36"]["regionChildIds"])
    kyiv_city = next(s for s in states if s["regionId"] == "31")
    assert kyiv_city["regionChildIds"] == []


def test_alerts_match_the_native_state(siren, native):
    oblast = native.raise_alert(KYIV_OBLAST, level="yellow", note="UAV activity")
    crimea = native.raise_alert(CRIMEA_UA, "artillery_shelling")
    drill = native.raise_alert(36, status="exercise")
    everything = siren("get_alerts")
    listed = {(r["regionId"], a["type"]) for r in everything for a in r["activeAlerts"]}
    expected = set()
    for a in native.active():
        if a["status"] != "actual":
            continue
        rid = "9999" if a["region"]["id"] == 29 else str(a["region"]["id"])
        kind = {"air_raid": "AIR", "artillery_shelling": "ARTILLERY"}[a["type"]]
        expected.add((rid, kind))
    assert listed == expected
    assert ("36", "AIR") not in listed, "a drill never reaches a public API"
    kyiv = next(r for r in everything if r["regionId"] == "14")
    assert kyiv["regionName"] == "Київська область" and kyiv["regionType"] == "State"
    assert kyiv["activeAlerts"][0]["activeAlertLevels"][0]["alertLevel"] == "Yellow"

    # A raion inherits its oblast's alert; the alert names where it was declared.
    raion = siren("get_alerts", str(BORYSPIL_RAION))
    assert len(raion) == 1 and raion[0]["regionId"] == "78" and raion[0]["regionType"] == "District"
    assert [(a["regionId"], a["type"]) for a in raion[0]["activeAlerts"]] == [("14", "AIR")]

    crimea_status = siren("get_alerts", "9999")
    assert [(a["regionId"], a["type"]) for a in crimea_status[0]["activeAlerts"]] == [("9999", "ARTILLERY")]

    native.end(oblast["id"])
    assert siren("get_alerts", str(BORYSPIL_RAION))[0]["activeAlerts"] == []
    assert drill and crimea


def test_last_action_index_moves_with_every_change(siren, native):
    before = siren("get_last_alert_index")["lastActionIndex"]
    alert = native.raise_alert(KYIV_OBLAST)
    middle = siren("get_last_alert_index")["lastActionIndex"]
    native.end(alert["id"])
    after = siren("get_last_alert_index")["lastActionIndex"]
    assert before < middle < after


def test_unknown_region_is_a_client_error(siren):
    with pytest.raises(aiohttp.ClientResponseError) as e:
        siren("get_alerts", "123456")
    assert e.value.status == 404


def test_region_history_holds_the_ended_alerts(server, native, reader):
    alert = native.raise_alert(CRIMEA_UA)
    native.end(alert["id"])
    ongoing = native.raise_alert(CRIMEA_UA, "urban_fights")
    r = requests.get(f"{server}/api/v3/alerts/regionHistory", params={"regionId": "9999"},
                     headers={"Authorization": reader}, timeout=5)
    assert r.status_code == 200, r.text
    [history] = r.json()
    assert history["regionId"] == "9999"
    alarms = history["alarms"]
    assert len(alarms) <= 25
    ended = next(a for a in alarms if a["alertType"] == "AIR")
    assert ended["isContinue"] is False and ended["endDate"] >= ended["startDate"]
    assert ended["regionId"] == "9999"
    current = next(a for a in alarms if a["alertType"] == "URBAN_FIGHTS")
    assert current["isContinue"] is True and current["endDate"] is None
    assert ongoing
