import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy import create_engine, text

from linli.testing import wait_for


def test_broker_accepts_server_account(mqtt_broker):
    c = mqtt.Client(CallbackAPIVersion.VERSION2)
    c.username_pw_set(mqtt_broker.server.username, mqtt_broker.server.password)
    rc = {}
    c.on_connect = lambda *a: rc.setdefault("rc", a[3])
    c.connect(mqtt_broker.host, mqtt_broker.server_port)
    c.loop_start()
    try:
        wait_for(lambda: "rc" in rc, 5, what="CONNACK")
        assert not rc["rc"].is_failure
    finally:
        c.loop_stop()
        c.disconnect()


def test_db_url_is_usable(db_url):
    eng = create_engine(db_url)
    with eng.connect() as conn:
        assert conn.execute(text("select 1")).scalar() == 1
    eng.dispose()
