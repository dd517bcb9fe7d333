//! Service Control Manager codes → the words policies compare against. Pure, so the
//! mapping is unit-tested on every platform.
#![cfg_attr(not(windows), allow(dead_code))]

/// `SERVICE_STATUS.dwCurrentState` (winsvc.h) → policy word.
pub fn state_name(state: u32) -> String {
    match state {
        1 => "stopped".into(),
        2 => "start_pending".into(),
        3 => "stop_pending".into(),
        4 => "running".into(),
        5 => "continue_pending".into(),
        6 => "pause_pending".into(),
        7 => "paused".into(),
        other => format!("unknown({other})"),
    }
}

/// `QUERY_SERVICE_CONFIG.dwStartType` plus the delayed-auto-start flag → policy word.
/// The flag only matters for automatic services: Windows ignores it for the others.
pub fn start_type_name(start_type: u32, delayed: bool) -> String {
    match start_type {
        0 => "boot".into(),
        1 => "system".into(),
        2 if delayed => "delayed_automatic".into(),
        2 => "automatic".into(),
        3 => "manual".into(),
        4 => "disabled".into(),
        other => format!("unknown({other})"),
    }
}

/// True when a service name argument is a pattern rather than one name.
pub fn is_pattern(name: &str) -> bool {
    name.contains(['*', '?'])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_map_to_policy_words() {
        let words: Vec<String> = (1..=7).map(state_name).collect();
        assert_eq!(
            words,
            [
                "stopped",
                "start_pending",
                "stop_pending",
                "running",
                "continue_pending",
                "pause_pending",
                "paused"
            ]
        );
        assert_eq!(state_name(0), "unknown(0)");
    }

    #[test]
    fn start_types_map_to_policy_words() {
        assert_eq!(start_type_name(0, false), "boot");
        assert_eq!(start_type_name(1, false), "system");
        assert_eq!(start_type_name(2, false), "automatic");
        assert_eq!(start_type_name(2, true), "delayed_automatic");
        assert_eq!(start_type_name(3, true), "manual");
        assert_eq!(start_type_name(4, false), "disabled");
        assert_eq!(start_type_name(9, false), "unknown(9)");
    }

    #[test]
    fn patterns_are_recognised() {
        assert!(is_pattern("AVP*"));
        assert!(is_pattern("Win?efend"));
        assert!(!is_pattern("EventLog"));
    }
}
