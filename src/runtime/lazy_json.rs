//! Singular JSONPath outputs read straight from the body bytes.
//!
//! When every `$...` query of a method's outputs names one place (member
//! names and non-negative indexes only), the body is walked once by
//! serde_json's own tokenizer: the members on the way to a wanted place are
//! followed, the wanted values are built as `serde_json::Value`s, and
//! everything else is read and dropped without being built. The walk reads
//! every byte with the same parser as the full route and goes through
//! `deserialize_any` (numbers range-checked, strings UTF-8-checked, the
//! same depth limit, trailing characters refused), so a body that the full
//! parse refuses is refused here too; the caller then takes the full route,
//! which gives the one error message. A member that appears twice counts
//! by its last occurrence, as it does in a parsed document.

use std::fmt;

use jsonpath_rust::parser::model::{JpQuery, Segment, Selector};
use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

/// One step of a singular query.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    Name(String),
    Index(usize),
}

/// The steps of `q` when it can be read lazily: names and non-negative
/// indexes, at least one step (`$` alone is the whole document).
pub fn plan(q: &JpQuery) -> Option<Vec<Step>> {
    let mut steps = Vec::with_capacity(q.segments.len());
    for seg in &q.segments {
        let sel = match seg {
            Segment::Selector(s) => s,
            Segment::Selectors(list) if list.len() == 1 => &list[0],
            _ => return None,
        };
        steps.push(match sel {
            Selector::Name(n) => Step::Name(n.clone()),
            Selector::Index(i) if *i >= 0 => Step::Index(usize::try_from(*i).ok()?),
            _ => return None,
        });
    }
    (!steps.is_empty()).then_some(steps)
}

/// The wanted paths as a tree: node 0 is the document.
#[derive(Debug, Default)]
struct Tree {
    nodes: Vec<Node>,
}

#[derive(Debug, Default)]
struct Node {
    names: Vec<(String, usize)>,
    indexes: Vec<(usize, usize)>,
    /// Paths that end here.
    ends: Vec<usize>,
    /// Every path at or below this node (to reset on a repeated member).
    below: Vec<usize>,
}

impl Tree {
    fn new(paths: &[Vec<Step>]) -> Tree {
        let mut t = Tree {
            nodes: vec![Node::default()],
        };
        for (p, steps) in paths.iter().enumerate() {
            let mut at = 0;
            t.nodes[0].below.push(p);
            for s in steps {
                let found = match s {
                    Step::Name(n) => t.nodes[at]
                        .names
                        .iter()
                        .find(|(k, _)| k == n)
                        .map(|(_, c)| *c),
                    Step::Index(i) => t.nodes[at]
                        .indexes
                        .iter()
                        .find(|(k, _)| k == i)
                        .map(|(_, c)| *c),
                };
                let next = match found {
                    Some(c) => c,
                    None => {
                        let c = t.nodes.len();
                        t.nodes.push(Node::default());
                        match s {
                            Step::Name(n) => t.nodes[at].names.push((n.clone(), c)),
                            Step::Index(i) => t.nodes[at].indexes.push((*i, c)),
                        }
                        c
                    }
                };
                at = next;
                t.nodes[at].below.push(p);
            }
            t.nodes[at].ends.push(p);
        }
        t
    }
}

/// Several singular queries, ready to be read in one walk: built once per
/// method and kept, since a loop reads the same outputs from every answer.
#[derive(Debug)]
pub struct Plan {
    paths: Vec<Vec<Step>>,
    tree: Tree,
}

impl Plan {
    pub fn new(paths: Vec<Vec<Step>>) -> Plan {
        let tree = Tree::new(&paths);
        Plan { paths, tree }
    }

    /// Reads the values at the plan's paths from a JSON document: one entry
    /// per path, `None` where nothing is there. An error when the body is
    /// not a JSON document (the caller reports it through the full parse).
    pub fn extract(
        &self,
        body: &[u8],
    ) -> Result<Vec<Option<serde_json::Value>>, serde_json::Error> {
        let mut out = vec![None; self.paths.len()];
        let mut de = serde_json::Deserializer::from_slice(body);
        At {
            tree: &self.tree,
            node: 0,
            paths: &self.paths,
            depth: 0,
            out: &mut out,
        }
        .deserialize(&mut de)?;
        de.end()?;
        Ok(out)
    }
}

/// The value at one node of the tree.
struct At<'a> {
    tree: &'a Tree,
    node: usize,
    paths: &'a [Vec<Step>],
    /// How many steps lead here.
    depth: usize,
    out: &'a mut Vec<Option<serde_json::Value>>,
}

impl<'de> DeserializeSeed<'de> for At<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        let node = &self.tree.nodes[self.node];
        if node.ends.is_empty() {
            return d.deserialize_any(self);
        }
        // A wanted value: built whole; the paths that go deeper are read
        // from it.
        let v: serde_json::Value = serde::Deserialize::deserialize(d)?;
        for &p in &node.below {
            let mut cur = Some(&v);
            for s in &self.paths[p][self.depth..] {
                cur = cur.and_then(|c| match s {
                    Step::Name(n) => c.as_object().and_then(|o| o.get(n)),
                    Step::Index(i) => c.as_array().and_then(|a| a.get(*i)),
                });
            }
            self.out[p] = cur.cloned();
        }
        Ok(())
    }
}

impl<'de> Visitor<'de> for At<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let node = &self.tree.nodes[self.node];
        let mut i = 0usize;
        loop {
            let child = node.indexes.iter().find(|(k, _)| *k == i).map(|(_, c)| *c);
            let more = match child {
                Some(c) => seq
                    .next_element_seed(At {
                        tree: self.tree,
                        node: c,
                        paths: self.paths,
                        depth: self.depth + 1,
                        out: self.out,
                    })?
                    .is_some(),
                None => seq.next_element::<Skip>()?.is_some(),
            };
            if !more {
                return Ok(());
            }
            i += 1;
        }
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let node = &self.tree.nodes[self.node];
        while let Some(child) = map.next_key_seed(Key(&node.names))? {
            match child {
                Some(c) => {
                    // A repeated member: only its last occurrence counts.
                    for &p in &self.tree.nodes[c].below {
                        self.out[p] = None;
                    }
                    map.next_value_seed(At {
                        tree: self.tree,
                        node: c,
                        paths: self.paths,
                        depth: self.depth + 1,
                        out: self.out,
                    })?;
                }
                None => {
                    map.next_value::<Skip>()?;
                }
            }
        }
        Ok(())
    }
}

/// A member name, matched against the wanted names without being kept.
struct Key<'a>(&'a [(String, usize)]);

impl<'de> DeserializeSeed<'de> for Key<'_> {
    type Value = Option<usize>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Option<usize>, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for Key<'_> {
    type Value = Option<usize>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a member name")
    }

    fn visit_str<E>(self, k: &str) -> Result<Option<usize>, E> {
        Ok(self.0.iter().find(|(n, _)| n == k).map(|(_, c)| *c))
    }
}

/// Any JSON value, checked as the full parse checks it and then dropped.
/// (serde's `IgnoredAny` would skip faster, but it checks neither numbers'
/// range nor strings' UTF-8 the way the full parse does.)
struct Skip;

impl<'de> serde::Deserialize<'de> for Skip {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Skip, D::Error> {
        d.deserialize_any(SkipVisitor)
    }
}

struct SkipVisitor;

impl<'de> Visitor<'de> for SkipVisitor {
    type Value = Skip;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E>(self, _: bool) -> Result<Skip, E> {
        Ok(Skip)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Skip, E> {
        Ok(Skip)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Skip, E> {
        Ok(Skip)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Skip, E> {
        Ok(Skip)
    }
    fn visit_str<E>(self, _: &str) -> Result<Skip, E> {
        Ok(Skip)
    }
    fn visit_unit<E>(self) -> Result<Skip, E> {
        Ok(Skip)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Skip, A::Error> {
        while seq.next_element::<Skip>()?.is_some() {}
        Ok(Skip)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Skip, A::Error> {
        while map.next_key::<Skip>()?.is_some() {
            map.next_value::<Skip>()?;
        }
        Ok(Skip)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn steps(path: &str) -> Option<Vec<Step>> {
        plan(&jsonpath_rust::parser::parse_json_path(path).unwrap())
    }

    /// The full route: parse, then jsonpath-rust.
    fn full(body: &[u8], path: &str) -> Result<Option<serde_json::Value>, ()> {
        let j: serde_json::Value = serde_json::from_slice(body).map_err(|_| ())?;
        let q = jsonpath_rust::parser::parse_json_path(path).unwrap();
        let found = jsonpath_rust::query::js_path_process(&q, &j).unwrap();
        Ok(found.into_iter().next().map(|r| r.val().clone()))
    }

    fn lazy(body: &[u8], paths: &[&str]) -> Result<Vec<Option<serde_json::Value>>, ()> {
        let p = Plan::new(paths.iter().map(|p| steps(p).unwrap()).collect());
        p.extract(body).map_err(|_| ())
    }

    #[test]
    fn plans_only_singular_queries() {
        assert!(steps("$.a.b[0]['c d']").is_some());
        assert!(steps("$").is_none());
        assert!(steps("$.a[-1]").is_none());
        assert!(steps("$.a[*]").is_none());
        assert!(steps("$..a").is_none());
        assert!(steps("$.a[0,1]").is_none());
        assert!(steps("$.a[?@.b]").is_none());
        assert!(steps("$.a[0:2]").is_none());
    }

    #[test]
    fn reads_what_the_full_parse_reads() {
        let body = br#"{"a":{"b":[10,{"c":"x"}]},"n":null,"e":"\u00e9","d":1,"d":{"z":2}}"#;
        for (path, want) in [
            ("$.a.b[0]", Some(serde_json::json!(10))),
            ("$.a.b[1].c", Some(serde_json::json!("x"))),
            ("$.a.b[2]", None),
            ("$.n", Some(serde_json::Value::Null)),
            ("$.e", Some(serde_json::json!("é"))),
            ("$.d.z", Some(serde_json::json!(2))),
            ("$.a.missing", None),
            ("$.n.x", None),
        ] {
            assert_eq!(lazy(body, &[path]).unwrap()[0], want, "{path}");
            assert_eq!(full(body, path).unwrap(), want, "{path}");
        }
        // Several paths, nested in each other, in one walk.
        let got = lazy(body, &["$.a", "$.a.b[1].c", "$.d"]).unwrap();
        assert_eq!(got[1], Some(serde_json::json!("x")));
        assert_eq!(got[2], Some(serde_json::json!({"z": 2})));
    }

    #[test]
    fn refuses_what_the_full_parse_refuses() {
        for body in [
            &br#"{"a":1,"b":"#[..],
            br#"{"a":1} x"#,
            br#"{"a":1,"b":1e999}"#,
            b"{\"a\":1,\"b\":\"\xff\"}",
            br#"{"a":1,"b":[1,]}"#,
        ] {
            assert!(full(body, "$.a").is_err());
            assert!(
                lazy(body, &["$.a"]).is_err(),
                "{:?}",
                String::from_utf8_lossy(body)
            );
        }
        let deep = format!("{{\"a\":1,\"b\":{}{}}}", "[".repeat(200), "]".repeat(200));
        assert!(full(deep.as_bytes(), "$.a").is_err());
        assert!(lazy(deep.as_bytes(), &["$.a"]).is_err());
    }

    fn json() -> impl Strategy<Value = serde_json::Value> {
        let leaf = prop_oneof![
            Just(serde_json::Value::Null),
            any::<bool>().prop_map(serde_json::Value::Bool),
            any::<i64>().prop_map(|n| serde_json::json!(n)),
            (-1e6f64..1e6).prop_map(|f| serde_json::json!(f)),
            "[a-c\u{e9}\"\\\\]{0,4}".prop_map(serde_json::Value::String),
        ];
        leaf.prop_recursive(4, 40, 5, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..5).prop_map(serde_json::Value::Array),
                prop::collection::vec(("[a-c]{1,2}", inner), 0..5)
                    .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
            ]
        })
    }

    fn path() -> impl Strategy<Value = String> {
        prop::collection::vec(
            prop_oneof![
                "[a-c]{1,2}".prop_map(|n| format!(".{n}")),
                (0usize..5).prop_map(|i| format!("[{i}]")),
            ],
            1..4,
        )
        .prop_map(|s| format!("${}", s.concat()))
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]
        #[test]
        fn lazy_and_full_routes_agree(doc in json(), paths in prop::collection::vec(path(), 1..4), pretty: bool) {
            let body = if pretty { serde_json::to_vec_pretty(&doc) } else { serde_json::to_vec(&doc) }.unwrap();
            let refs: Vec<&str> = paths.iter().map(String::as_str).collect();
            let got = lazy(&body, &refs).unwrap();
            for (p, g) in paths.iter().zip(got) {
                prop_assert_eq!(g, full(&body, p).unwrap(), "{}", p);
            }
        }
    }
}
