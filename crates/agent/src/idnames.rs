//! Numeric ids to names as the *audited* system defines them (its own /etc/passwd and
//! /etc/group, which under --root differ from this machine's).

use std::collections::HashMap;

use crate::context::HostContext;

struct UserNames(HashMap<u32, String>);
struct GroupNames(HashMap<u32, String>);

fn parse_names(text: Option<String>) -> HashMap<u32, String> {
    let mut map = HashMap::new();
    for line in text.unwrap_or_default().lines() {
        let mut fields = line.split(':');
        let (Some(name), Some(_), Some(id)) = (fields.next(), fields.next(), fields.next()) else {
            continue;
        };
        if let Ok(id) = id.parse::<u32>() {
            // The first entry for an id is the one tools like `ls` show.
            map.entry(id).or_insert_with(|| name.to_string());
        }
    }
    map
}

/// The user name for `uid`, or the number itself when the audited system has no name.
pub fn user_name(ctx: &HostContext, uid: u32) -> String {
    let names = ctx.shared(|| UserNames(parse_names(ctx.read_text("/etc/passwd").ok().flatten())));
    names.0.get(&uid).cloned().unwrap_or_else(|| uid.to_string())
}

pub fn group_name(ctx: &HostContext, gid: u32) -> String {
    let names = ctx.shared(|| GroupNames(parse_names(ctx.read_text("/etc/group").ok().flatten())));
    names.0.get(&gid).cloned().unwrap_or_else(|| gid.to_string())
}
