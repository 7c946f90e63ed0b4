//! Alias expansion (`*name` → a copy of the `&name` node), with a node budget.

use super::{Error, Node, NodeKind};
use std::collections::HashMap;

pub(crate) fn expand(root: &mut Node, max_nodes: usize) -> Result<(), Error> {
    let mut anchors: HashMap<String, Node> = HashMap::new();
    let mut budget = max_nodes;
    walk(root, &mut anchors, &mut budget)
}

fn count(n: &Node) -> usize {
    1 + match &n.kind {
        NodeKind::Sequence(items) => items.iter().map(count).sum(),
        NodeKind::Mapping(entries) => entries.iter().map(|(k, v)| count(k) + count(v)).sum(),
        _ => 0,
    }
}

fn walk(
    n: &mut Node,
    anchors: &mut HashMap<String, Node>,
    budget: &mut usize,
) -> Result<(), Error> {
    match &mut n.kind {
        NodeKind::Alias(name) => {
            let Some(target) = anchors.get(name.as_str()) else {
                return Err(Error::new(n.pos, format!("unknown anchor `{name}`")));
            };
            let size = count(target);
            if size > *budget {
                return Err(Error::new(
                    n.pos,
                    "alias expansion exceeds the node budget (a \"billion laughs\" document?)",
                ));
            }
            *budget -= size;
            let mut copy = target.clone();
            copy.anchor = None;
            copy.take_comments();
            let own = n.take_comments();
            if !own.is_empty() {
                *copy.comments_mut() = own;
            }
            copy.pos = n.pos;
            *n = copy;
            return Ok(());
        }
        NodeKind::Sequence(items) => {
            for it in items.iter_mut() {
                walk(it, anchors, budget)?;
            }
        }
        NodeKind::Mapping(entries) => {
            for (k, v) in entries.iter_mut() {
                walk(k, anchors, budget)?;
                walk(v, anchors, budget)?;
            }
        }
        NodeKind::Scalar(_) => {}
    }
    if let Some(name) = &n.anchor {
        anchors.insert(name.clone(), n.clone());
    }
    Ok(())
}
