//! `auth mtls { certificate }`: the client certificate is configured on the
//! integration's HTTP client (see `runtime::client`), not per request.
