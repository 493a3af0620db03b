//! The OpenAPI document against the routes: `GET /api/v1/openapi.json` of the real binary is
//! OpenAPI 3.1, names every route the routers declare under `/api/v1` with its methods (the
//! routes are read from the routers' source, so a route added without its annotation fails
//! here), every operation it names is one the server serves, and a few operations carry the
//! statuses and schemas the server is known to answer with.

mod common;

use std::collections::BTreeSet;
use std::path::Path;

use common::*;
use serde_json::{Value, json};

/// The `.route("/api/v1/…", get(…).post(…))` calls of a source file, as (path, method) pairs.
fn routes_in(source: &str) -> Vec<(String, String)> {
    let mut found = Vec::new();
    let mut rest = source;
    while let Some(at) = rest.find(".route(") {
        rest = &rest[at + ".route(".len()..];
        // The call's arguments, up to its closing parenthesis.
        let mut depth = 1;
        let mut end = rest.len();
        for (i, c) in rest.char_indices() {
            match c {
                '(' => depth += 1,
                ')' => {
                    depth -= 1;
                    if depth == 0 {
                        end = i;
                        break;
                    }
                }
                _ => {}
            }
        }
        let call = &rest[..end];
        let Some(path) = call.split('"').nth(1) else {
            continue;
        };
        if !path.starts_with("/api/v1/") {
            continue;
        }
        for method in ["get", "post", "patch", "put", "delete"] {
            let bare = call
                .match_indices(&format!("{method}("))
                .any(|(i, _)| i == 0 || !call.as_bytes()[i - 1].is_ascii_alphanumeric());
            if bare {
                found.push((path.to_string(), method.to_string()));
            }
        }
    }
    found
}

/// Every (path, method) the routers of the native API and the stream fall-back declare.
fn declared_routes() -> BTreeSet<(String, String)> {
    let crates = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut files = Vec::new();
    let mut dirs = vec![crates.join("api/src"), crates.join("edge/src")];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).expect("read a source directory") {
            let path = entry.expect("a directory entry").path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                files.push(path);
            }
        }
    }
    let mut routes = BTreeSet::new();
    for file in files {
        let source = std::fs::read_to_string(&file).expect("read a source file");
        routes.extend(routes_in(&source));
    }
    routes
}

fn document(server: &Server) -> Value {
    let r = get(&server.url("/api/v1/openapi.json"));
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.header("content-type"), Some("application/json"));
    r.body
}

fn operation<'a>(doc: &'a Value, path: &str, method: &str) -> &'a Value {
    let op = &doc["paths"][path][method];
    assert!(op.is_object(), "the document has no {method} {path}");
    op
}

fn statuses(op: &Value) -> BTreeSet<String> {
    op["responses"]
        .as_object()
        .map(|r| r.keys().cloned().collect())
        .unwrap_or_default()
}

/// A request path for a templated one: an id, a region, a name that exist or not.
fn concrete(path: &str) -> String {
    path.replace("{id}", "1")
        .replace("{region}", "14")
        .replace("{name}", "nobody")
}

#[test]
fn the_document_is_openapi_3_1_and_names_every_route() {
    let (_dir, server, admin) = fresh();
    let doc = document(&server);
    let version = doc["openapi"].as_str().unwrap_or_default();
    assert!(version.starts_with("3.1."), "OpenAPI {version:?}");
    assert!(doc["info"]["title"].is_string());

    // The routes, read from the routers themselves; the parser must see the ones we know.
    let declared = declared_routes();
    for known in [
        ("/api/v1/alerts", "post"),
        ("/api/v1/alerts", "get"),
        ("/api/v1/alerts/{id}", "patch"),
        ("/api/v1/regions/{region}/stats", "get"),
        ("/api/v1/reports", "post"),
        ("/api/v1/threats", "post"),
        ("/api/v1/tokens/{name}", "delete"),
        ("/api/v1/webhooks/{id}/dead-letters", "get"),
        ("/api/v1/whoami", "get"),
        ("/api/v1/stream", "get"),
        ("/api/v1/ws", "get"),
        ("/api/v1/openapi.json", "get"),
    ] {
        assert!(
            declared.contains(&(known.0.to_string(), known.1.to_string())),
            "the route reader missed {known:?}; it found {declared:?}"
        );
    }
    let missing: Vec<_> = declared
        .iter()
        .filter(|(path, method)| !doc["paths"][path][method].is_object())
        .collect();
    assert!(
        missing.is_empty(),
        "routes the document does not name: {missing:?}"
    );

    // Every operation the document names under /api/v1 is one the server serves: neither the
    // fall-back's 404 nor a 405. (The SSE stream is left out: its answer never ends.)
    let paths = doc["paths"].as_object().expect("paths");
    let mut operations = 0;
    for (path, item) in paths {
        for method in item.as_object().expect("a path item").keys() {
            if !path.starts_with("/api/v1/") || path == "/api/v1/stream" {
                continue;
            }
            operations += 1;
            let body = (method != "get" && method != "delete").then_some(&b"{}"[..]);
            let r = request(
                &method.to_uppercase(),
                &server.url(&concrete(path)),
                Some(&admin),
                &[],
                body,
            );
            assert_ne!(r.status, 405, "{method} {path}: {:?}", r.body);
            assert!(
                !(r.status == 404 && r.body["error"]["message"] == "no such endpoint"),
                "{method} {path} is documented but not served"
            );
            let documented = statuses(&item[method]);
            assert!(
                documented.contains(&r.status.to_string()),
                "{method} {path} answered {} (documented: {documented:?}): {:?}",
                r.status,
                r.body
            );
        }
    }
    assert!(operations >= 30, "only {operations} operations documented");
}

#[test]
fn known_operations_carry_their_statuses_schemas_and_security() {
    let (_dir, server, admin) = fresh();
    let doc = document(&server);

    let start = operation(&doc, "/api/v1/alerts", "post");
    for s in [
        "201", "400", "401", "403", "404", "409", "413", "422", "503",
    ] {
        assert!(statuses(start).contains(s), "POST /api/v1/alerts lacks {s}");
    }
    assert_eq!(start["security"], json!([{ "bearer": [] }]));
    assert_eq!(
        start["requestBody"]["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/StartBody"
    );
    assert!(statuses(operation(&doc, "/api/v1/alerts/active", "get")).contains("304"));
    assert!(statuses(operation(&doc, "/api/v1/webhooks/{id}", "delete")).contains("204"));
    assert!(statuses(operation(&doc, "/api/v1/alerts/{id}/end", "post")).contains("409"));
    let history = operation(&doc, "/api/v1/alerts", "get");
    let content = &history["responses"]["200"]["content"];
    assert!(content["application/json"].is_object() && content["text/csv"].is_object());
    let names: Vec<&str> = history["parameters"]
        .as_array()
        .expect("parameters")
        .iter()
        .filter_map(|p| p["name"].as_str())
        .collect();
    for name in ["region", "type", "from", "to", "limit", "cursor"] {
        assert!(names.contains(&name), "GET /api/v1/alerts lacks ?{name}");
    }
    assert_eq!(
        operation(&doc, "/api/v1/stream", "get")["responses"]["200"]["content"]
            .as_object()
            .map(|c| c.keys().cloned().collect::<Vec<_>>()),
        Some(vec!["text/event-stream".to_string()])
    );
    // Public: the document asks no token of itself.
    assert!(operation(&doc, "/api/v1/openapi.json", "get")["security"].is_null());

    let schemes = &doc["components"]["securitySchemes"]["bearer"];
    assert_eq!(schemes["type"], "http");
    assert_eq!(schemes["scheme"], "bearer");
    let schemas = &doc["components"]["schemas"];
    assert_eq!(schemas["ErrorBody"]["required"], json!(["error"]));
    assert_eq!(
        schemas["ErrorDetail"]["required"],
        json!(["code", "message"])
    );
    // The vocabularies by their words, as the API writes them.
    assert_eq!(
        schemas["AlertType"]["enum"],
        json!([
            "air_raid",
            "artillery_shelling",
            "urban_fights",
            "chemical",
            "nuclear"
        ])
    );

    // What the server answers matches what the document says it answers.
    let r = start_alert(&server, &admin, json!(14));
    assert_eq!(r.status, 201, "{:?}", r.body);
    let alert_fields = schemas["Alert"]["required"].as_array().expect("required");
    for field in alert_fields {
        let field = field.as_str().expect("a field name");
        assert!(r.body.get(field).is_some(), "the alert has no {field}");
    }
    let again = start_alert(&server, &admin, json!(14));
    assert_eq!(again.status, 409);
    assert!(statuses(start).contains(&again.status.to_string()));
    assert!(again.body["error"]["code"].is_string() && again.body["error"]["message"].is_string());
}
