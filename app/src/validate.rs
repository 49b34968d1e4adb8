//! Checks shared by the browser (as people type) and the server (the real guard).

/// Why `input` is not a GUID such as Entra shows, or `None` when it is one.
pub fn guid_problem(input: &str) -> Option<String> {
    let text = input.trim().trim_start_matches('{').trim_end_matches('}');
    if text.is_empty() {
        return Some("Paste the ID, a GUID such as 6f1c0c1e-7a52-4c4e-9d6b-3a8e2f0b9c11.".into());
    }
    let groups: Vec<&str> = text.split('-').collect();
    let lengths: Vec<usize> = groups.iter().map(|g| g.len()).collect();
    if groups.len() != 5 || lengths != [8, 4, 4, 4, 12] {
        return Some(format!(
            "A GUID has 32 hexadecimal digits in groups of 8-4-4-4-12; this has {} characters in {} groups.",
            text.chars().count(),
            groups.len()
        ));
    }
    text.chars()
        .find(|c| !c.is_ascii_hexdigit() && *c != '-')
        .map(|bad| format!("“{bad}” is not a hexadecimal digit (0–9, a–f)."))
}

/// The GUID in lower case, without braces.
pub fn normalize_guid(input: &str) -> String {
    input
        .trim()
        .trim_start_matches('{')
        .trim_end_matches('}')
        .to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    #[test]
    fn guids_are_checked() {
        assert_eq!(
            super::guid_problem("6F1C0C1E-7A52-4C4E-9D6B-3A8E2F0B9C11"),
            None
        );
        assert!(super::guid_problem("6f1c0c1e")
            .unwrap()
            .contains("8-4-4-4-12"));
        assert!(super::guid_problem("6f1c0c1e-7a52-4c4e-9d6b-3a8e2f0b9cxz")
            .unwrap()
            .contains("“x”"));
    }
}
