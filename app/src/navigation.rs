//! Where people may be sent after signing in.

/// Returns `candidate` when it is a path on Gatehouse itself: it starts with a single `/`, has
/// no scheme, no second slash or backslash at the start, and no control characters. Anything
/// else gives `None`, so a crafted link cannot send people to another site.
pub fn safe_return_to(candidate: &str) -> Option<&str> {
    let ok = candidate.starts_with('/')
        && !candidate.starts_with("//")
        && !candidate.starts_with("/\\")
        && !candidate.contains('\\')
        && !candidate.chars().any(|c| c.is_control())
        && candidate.len() <= 2048;
    ok.then_some(candidate)
}

#[cfg(test)]
mod tests {
    use super::safe_return_to;

    #[test]
    fn relative_paths_are_kept() {
        assert_eq!(safe_return_to("/console"), Some("/console"));
        assert_eq!(
            safe_return_to("/console/orgs/1?x=y"),
            Some("/console/orgs/1?x=y")
        );
    }

    #[test]
    fn other_hosts_and_schemes_are_refused() {
        for bad in [
            "//evil.example",
            "https://evil.example",
            "/\\evil.example",
            "\\\\evil.example",
            "javascript:alert(1)",
            "/ok\n//evil",
            "",
            "console",
        ] {
            assert_eq!(safe_return_to(bad), None, "{bad:?} must be refused");
        }
    }
}
