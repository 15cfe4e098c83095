//! How a workflow names a function: `greet` (the function's current route)
//! or `greet@canary` (through its alias `canary`). The function host
//! resolves the name, the workflow validator checks the function part, and
//! the admin API checks alias names with the same rule.

/// Longest alias name.
pub const MAX_ALIAS_LEN: usize = 64;

/// Splits `greet@canary` into the function and the alias; a name without
/// `@` has no alias.
pub fn split(resource: &str) -> (&str, Option<&str>) {
    match resource.split_once('@') {
        Some((function, alias)) => (function, Some(alias)),
        None => (resource, None),
    }
}

/// Checks an alias name: 1 to 64 characters of `a-z`, `0-9`, `-` and `_`,
/// starting with a letter, so that it never reads as a version number.
pub fn check_alias(alias: &str) -> Result<(), String> {
    let valid = alias.len() <= MAX_ALIAS_LEN
        && alias.starts_with(|c: char| c.is_ascii_lowercase())
        && alias
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_'));
    if valid {
        Ok(())
    } else {
        Err(format!(
            "alias name '{alias}' must be 1 to {MAX_ALIAS_LEN} characters of a-z, 0-9, '-' or '_', starting with a letter"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_split_at_the_alias() {
        assert_eq!(split("greet"), ("greet", None));
        assert_eq!(split("greet@canary"), ("greet", Some("canary")));
    }

    #[test]
    fn alias_names_are_checked() {
        for good in ["live", "canary-2", "a_b", &"x".repeat(MAX_ALIAS_LEN)] {
            assert!(check_alias(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "2",
            "Live",
            "a b",
            "a@b",
            &"x".repeat(MAX_ALIAS_LEN + 1),
        ] {
            assert!(check_alias(bad).is_err(), "{bad}");
        }
    }
}
