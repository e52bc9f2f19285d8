"""The local API server (``infra.local.http_server``) takes a burst of connections without dropping any."""
from __future__ import annotations

import socket


def test_a_burst_of_connections_waits_in_the_listen_queue_not_in_the_kernels_syn_retry():
    from chalice import Chalice

    from infra.local.http_server import LISTEN_BACKLOG, create_server

    app = Chalice(app_name="burst")

    @app.route("/")
    def index():
        return {}

    server = create_server(app, "127.0.0.1", 0)  # not serving: nothing is accepted, every connection queues
    port = server.server.server_address[1]
    clients = []
    try:
        for _ in range(40):  # socketserver's default backlog of 5 completed 6 of these, the 7th timed out
            client = socket.create_connection(("127.0.0.1", port), timeout=0.5)
            clients.append(client)
        assert len(clients) == 40 <= LISTEN_BACKLOG
    finally:
        for client in clients:
            client.close()
        server.server.server_close()
