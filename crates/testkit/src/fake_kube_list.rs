//! LIST for [`crate::fake_kube::FakeKube`]: a `GET` of a collection answers the objects stored
//! under it, as the API server does: every namespace's for a cluster-wide path
//! (`/api/v1/pods`), filtered by `labelSelector` (`key`, `!key`, `key=value`, `key!=value`,
//! comma-separated), ordered by path, and paged by `limit`, the next page's `continue` token
//! being the offset of its first object.

use std::collections::HashMap;

use serde_json::{json, Value};

/// Whether `path` names a collection: `/api/v1/R`, `/api/v1/namespaces/NS/R`, `/apis/G/V/R`
/// or `/apis/G/V/namespaces/NS/R` (not an object such as `/api/v1/namespaces/shop`).
pub fn is_collection(path: &str) -> bool {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    match segments.first() {
        Some(&"api") => segments.len() == 3 || (segments.len() == 5 && segments[2] == "namespaces"),
        Some(&"apis") => {
            segments.len() == 4 || (segments.len() == 6 && segments[3] == "namespaces")
        }
        _ => false,
    }
}

/// The list a `GET` of collection `path` with `query` answers.
pub fn list(objects: &HashMap<String, Value>, path: &str, query: &str) -> Value {
    let params = parse_query(query);
    let param = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let selector = param("labelSelector").unwrap_or_default();
    let mut paths: Vec<&String> = objects
        .keys()
        .filter(|p| under(path, p))
        .filter(|p| objects.get(*p).is_some_and(|o| selects(selector, o)))
        .collect();
    paths.sort();
    let start: usize = param("continue").and_then(|c| c.parse().ok()).unwrap_or(0);
    let limit: usize = param("limit")
        .and_then(|l| l.parse().ok())
        .filter(|l| *l > 0)
        .unwrap_or(usize::MAX);
    let page: Vec<Value> = paths
        .iter()
        .skip(start)
        .take(limit)
        .filter_map(|p| objects.get(*p).cloned())
        .collect();
    let next = start.saturating_add(page.len());
    let mut metadata = json!({ "resourceVersion": "1" });
    if next < paths.len() {
        metadata["continue"] = json!(next.to_string());
    }
    json!({ "kind": "List", "apiVersion": "v1", "metadata": metadata, "items": page })
}

/// Whether the object at `object` is in `collection`: directly under it, or, for a
/// cluster-wide collection, under the same resource of any namespace.
fn under(collection: &str, object: &str) -> bool {
    let Some((parent, name)) = object.rsplit_once('/') else {
        return false;
    };
    if name.is_empty() {
        return false;
    }
    if parent == collection {
        return true;
    }
    let Some((base, resource)) = collection.rsplit_once('/') else {
        return false;
    };
    parent
        .strip_prefix(base)
        .and_then(|rest| rest.strip_prefix("/namespaces/"))
        .and_then(|rest| rest.split_once('/'))
        .is_some_and(|(ns, r)| !ns.is_empty() && !ns.contains('/') && r == resource)
}

/// Whether `object`'s labels satisfy `selector` (empty: every object).
fn selects(selector: &str, object: &Value) -> bool {
    let labels = &object["metadata"]["labels"];
    let label = |key: &str| labels.get(key).and_then(Value::as_str);
    selector
        .split(',')
        .map(str::trim)
        .filter(|term| !term.is_empty())
        .all(|term| {
            if let Some((key, value)) = term.split_once("!=") {
                label(key.trim()) != Some(value.trim())
            } else if let Some((key, value)) = term.split_once('=') {
                let value = value.trim_start_matches('=');
                label(key.trim()) == Some(value.trim())
            } else if let Some(key) = term.strip_prefix('!') {
                label(key.trim()).is_none()
            } else {
                label(term).is_some()
            }
        })
}

/// `a=1&b=x%2Fy` → `[("a", "1"), ("b", "x/y")]`.
pub fn parse_query(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (decode(k), decode(v))
        })
        .collect()
}

fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => match bytes
                .get(i + 1..i + 3)
                .and_then(|hex| std::str::from_utf8(hex).ok())
                .and_then(|hex| u8::from_str_radix(hex, 16).ok())
            {
                Some(b) => {
                    out.push(b);
                    i += 2;
                }
                None => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> HashMap<String, Value> {
        let pod = |ns: &str, name: &str, fargate: bool| {
            let labels = if fargate {
                json!({ "eks.amazonaws.com/fargate-profile": "fp", "app": name })
            } else {
                json!({ "app": name })
            };
            (
                format!("/api/v1/namespaces/{ns}/pods/{name}"),
                json!({ "metadata": { "name": name, "namespace": ns, "labels": labels } }),
            )
        };
        [
            pod("shop", "a", true),
            pod("shop", "b", false),
            pod("bank", "c", true),
            (
                "/api/v1/namespaces/shop".to_owned(),
                json!({ "metadata": { "name": "shop" } }),
            ),
        ]
        .into_iter()
        .collect()
    }

    fn names(list: &Value) -> Vec<&str> {
        list["items"]
            .as_array()
            .map(|items| {
                items
                    .iter()
                    .filter_map(|i| i["metadata"]["name"].as_str())
                    .collect()
            })
            .unwrap_or_default()
    }

    #[test]
    fn a_cluster_wide_list_pages_the_labelled_pods_of_every_namespace() {
        let objects = store();
        let query = "labelSelector=eks.amazonaws.com%2Ffargate-profile&limit=1";
        let first = list(&objects, "/api/v1/pods", query);
        assert_eq!(names(&first), vec!["c"]);
        assert_eq!(first["metadata"]["continue"], "1");
        let second = list(&objects, "/api/v1/pods", &format!("{query}&continue=1"));
        assert_eq!(names(&second), vec!["a"]);
        assert!(second["metadata"].get("continue").is_none());
    }

    #[test]
    fn a_namespaced_list_holds_that_namespace_only_and_an_object_path_is_no_collection() {
        let objects = store();
        let shop = list(
            &objects,
            "/api/v1/namespaces/shop/pods",
            "labelSelector=app%3Db",
        );
        assert_eq!(names(&shop), vec!["b"]);
        assert!(!is_collection("/api/v1/namespaces/shop"));
        assert!(!is_collection(
            "/apis/apps/v1/namespaces/shop/deployments/web"
        ));
        assert!(is_collection(
            "/apis/policy/v1/namespaces/shop/poddisruptionbudgets"
        ));
    }
}
