"""A SOAP ticket service made with Spyne (PyPI), for tests/soap_spyne.rs.

The same service answers SOAP 1.1 at /soap11 and SOAP 1.2 at /soap12
(Spyne writes the envelopes and picks the prefixes: `soap11env`/`soap12env`
and `tns`, none of which the rbk program uses). Tickets live in memory.
Prints {"ready":true} once listening on 127.0.0.1:$PORT.
"""

import json
import os
from wsgiref.simple_server import WSGIRequestHandler, make_server

from spyne import (Application, ComplexModel, Fault, Integer, Iterable,
                   ServiceBase, Unicode, XmlAttribute, rpc)
from spyne.protocol.soap import Soap11, Soap12
from spyne.server.wsgi import WsgiApplication

NS = "urn:rbk:test:tickets"


class Ticket(ComplexModel):
    __namespace__ = NS
    id = XmlAttribute(Integer)
    title = Unicode
    status = Unicode


TICKETS = [
    Ticket(id=1, title="Printer on fire", status="open"),
    Ticket(id=2, title="VPN <down> & out", status="open"),
    Ticket(id=3, title="New laptop", status="closed"),
]


class TicketService(ServiceBase):
    @rpc(Unicode, _returns=Iterable(Ticket))
    def ListTickets(ctx, status):
        return [t for t in TICKETS if not status or t.status == status]

    @rpc(Integer, _returns=Ticket)
    def GetTicket(ctx, id):
        for t in TICKETS:
            if t.id == id:
                return t
        raise Fault(faultcode="Client.NotFound",
                    faultstring="no ticket %d" % id)

    @rpc(Unicode, Unicode, _returns=Ticket)
    def CreateTicket(ctx, title, status):
        t = Ticket(id=len(TICKETS) + 1, title=title, status=status or "open")
        TICKETS.append(t)
        return t


def app(protocol):
    return WsgiApplication(Application(
        [TicketService], tns=NS, name="Tickets",
        in_protocol=protocol(validator="lxml"), out_protocol=protocol()))


SOAP11 = app(Soap11)
SOAP12 = app(Soap12)


def router(environ, start_response):
    path = environ.get("PATH_INFO", "")
    if path.startswith("/soap12"):
        return SOAP12(environ, start_response)
    if path.startswith("/soap11"):
        return SOAP11(environ, start_response)
    start_response("404 Not Found", [("Content-Type", "text/plain")])
    return [b"not found"]


class Quiet(WSGIRequestHandler):
    def log_message(self, *args):
        pass


if __name__ == "__main__":
    port = int(os.environ.get("PORT", "18830"))
    server = make_server("127.0.0.1", port, router, handler_class=Quiet)
    print(json.dumps({"ready": True, "port": port}, separators=(",", ":")),
          flush=True)
    server.serve_forever()
