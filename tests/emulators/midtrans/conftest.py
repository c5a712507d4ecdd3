"""Fixtures for the Midtrans emulator: a started emulator, real `midtransclient` clients on it, a webhook receiver."""
import midtransclient
import pytest

from emulators.midtrans import MidtransEmulator

from .helpers import MERCHANT_ID, SERVER_KEY, WebhookReceiver, new_order_id, snap_body


@pytest.fixture
def midtrans():
    # timeout_sleep is short so the "timeout" fault tests stay quick.
    emulator = MidtransEmulator(server_key=SERVER_KEY, merchant_id=MERCHANT_ID, timeout_sleep=1.0).start()
    yield emulator
    emulator.stop()


def _point(client, url: str):
    client.api_config.SNAP_SANDBOX_BASE_URL = url + "/snap/v1"
    client.api_config.CORE_SANDBOX_BASE_URL = url
    return client


@pytest.fixture
def snap(midtrans):
    return _point(midtransclient.Snap(is_production=False, server_key=SERVER_KEY), midtrans.url)


@pytest.fixture
def core(midtrans):
    return _point(midtransclient.CoreApi(is_production=False, server_key=SERVER_KEY), midtrans.url)


@pytest.fixture
def client_with_key(midtrans):
    """A Snap client on the emulator with some other server key."""
    def make(server_key: str):
        return _point(midtransclient.Snap(is_production=False, server_key=server_key), midtrans.url)
    return make


@pytest.fixture
def order(snap):
    """A fresh order created through Snap for Rp 99.000; returns its order id."""
    order_id = new_order_id()
    snap.create_transaction(snap_body(order_id))
    return order_id


@pytest.fixture
def receiver():
    receiver = WebhookReceiver()
    yield receiver
    receiver.stop()
