//! XML outputs against a real third-party SOAP server: a Spyne (PyPI)
//! ticket service answering SOAP 1.1 and 1.2 envelopes with its own
//! prefixes (`soap11env`, `soap12env`, `tns`), none of them the program's.
//! `.ci/setup-soap.sh` starts it and exports RBK_SOAP_URL; `.ci/run` runs
//! these tests with `--include-ignored`, and without the server they fail.

mod run_support;

use run_support::*;
use serde_json::json;

fn url() -> String {
    std::env::var("RBK_SOAP_URL")
        .unwrap_or_else(|_| panic!("RBK_SOAP_URL is not set: source .ci/setup-soap.sh"))
}

const PROGRAM: &str = r#"
instance spyne { url = "@URL@" }

integration tickets {
  base_url = "{instance.url}"
  xml_namespaces {
    soap = "http://schemas.xmlsoap.org/soap/envelope/"
    t = "urn:rbk:test:tickets"
  }
}

method tickets.list(status: string) {
  POST "/soap11"
  headers { SOAPAction = "\"ListTickets\"" }
  body xml "<s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\" xmlns:t=\"urn:rbk:test:tickets\"><s:Body><t:ListTickets><t:status>{status}</t:status></t:ListTickets></s:Body></s:Envelope>" as "text/xml; charset=utf-8"
  output {
    ids: [int] = xpath("/soap:Envelope/soap:Body/t:ListTicketsResponse/t:ListTicketsResult/t:Ticket/@id")
    titles: [string] = xpath("//t:ListTicketsResult/t:Ticket/t:title")
    count: int = xpath("count(//t:Ticket)")
    first: string? = xpath("//t:Ticket/t:title")
  }
}

# SOAP 1.2: the method's `soap` prefix replaces the integration's.
method tickets.get(id: int) {
  POST "/soap12"
  xml_namespaces { soap = "http://www.w3.org/2003/05/soap-envelope" }
  body xml "<s:Envelope xmlns:s=\"http://www.w3.org/2003/05/soap-envelope\" xmlns:t=\"urn:rbk:test:tickets\"><s:Body><t:GetTicket><t:id>{id}</t:id></t:GetTicket></s:Body></s:Envelope>" as "application/soap+xml; charset=utf-8"
  expect [200, 500]
  output {
    id: int? = xpath("/soap:Envelope/soap:Body/t:GetTicketResponse/t:GetTicketResult/@id")
    title: string? = xpath("//t:GetTicketResult/t:title")
    fault: string? = xpath("/soap:Envelope/soap:Body/soap:Fault/soap:Reason/soap:Text")
    is_fault: bool = xpath("boolean(/soap:Envelope/soap:Body/soap:Fault)")
  }
}

method tickets.create(title: string, extra: string) {
  POST "/soap11"
  headers { SOAPAction = "\"CreateTicket\"" }
  body xml "<s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\" xmlns:t=\"urn:rbk:test:tickets\"><s:Body><t:CreateTicket><t:title>{title}</t:title>{raw(extra)}</t:CreateTicket></s:Body></s:Envelope>" as "text/xml; charset=utf-8"
  output {
    id: int = xpath("//t:CreateTicketResult/@id")
    title: string = xpath("//t:CreateTicketResult/t:title")
    state: string = xpath("string(//t:CreateTicketResult/t:status)")
  }
}

runbook list(status: string) {
  step s = tickets.list(status: status)
  return { ids: s.ids, titles: s.titles, count: s.count, first: s.first }
}

runbook get(id: int) {
  step s = tickets.get(id: id)
  return { status: s.status, id: s.id, title: s.title, fault: s.fault, is_fault: s.is_fault }
}

runbook create(title: string, extra: string) {
  step s = tickets.create(title: title, extra: extra)
  return { id: s.id, title: s.title, state: s.state }
}
"#;

#[test]
#[ignore = "needs the SOAP server: started by .ci/run"]
fn soap11_lists_with_prefixes_the_document_does_not_use() {
    let dir = Dir::new();
    let file = dir.program(PROGRAM, &url());
    let v = run(&file, "list", &["status=open"]).ok();
    assert_eq!(v["count"], json!(v["ids"].as_array().map(|a| a.len())));
    let ids = v["ids"].as_array().cloned().unwrap_or_default();
    assert!(ids.contains(&json!(1)) && ids.contains(&json!(2)), "{v}");
    let titles = v["titles"].as_array().cloned().unwrap_or_default();
    assert!(titles.contains(&json!("VPN <down> & out")), "{v}");
    assert_eq!(v["first"], json!("Printer on fire"));
    let v = run(&file, "list", &["status=nothing"]).ok();
    assert_eq!(
        v,
        json!({ "ids": [], "titles": [], "count": 0, "first": null })
    );
}

#[test]
#[ignore = "needs the SOAP server: started by .ci/run"]
fn soap12_result_and_fault_with_the_methods_own_prefix() {
    let dir = Dir::new();
    let file = dir.program(PROGRAM, &url());
    let v = run(&file, "get", &["id=2"]).ok();
    assert_eq!(
        v,
        json!({ "status": 200, "id": 2, "title": "VPN <down> & out", "fault": null, "is_fault": false })
    );
    let v = run(&file, "get", &["id=999"]).ok();
    assert_eq!(
        v,
        json!({ "status": 500, "id": null, "title": null, "fault": "no ticket 999", "is_fault": true })
    );
}

#[test]
#[ignore = "needs the SOAP server: started by .ci/run"]
fn interpolations_reach_the_server_escaped_and_raw_inserts_markup() {
    let dir = Dir::new();
    let file = dir.program(PROGRAM, &url());
    let title = r#"<script>"Tom" & 'Jerry'</script>"#;
    let v = run(
        &file,
        "create",
        &[
            &format!("title={title}"),
            "extra=<t:status>closed</t:status>",
        ],
    )
    .ok();
    assert_eq!(v["title"], json!(title), "{v}");
    assert_eq!(v["state"], json!("closed"), "{v}");
    assert!(v["id"].as_i64().is_some_and(|i| i > 3), "{v}");
}
