//! The `SYS.*` error codes the runtime itself produces, as the workflow
//! language names them; definitions match on them in `onErrors`.

/// The call ran past its timeout, or a state's timeout expired.
pub const TIMEOUT: &str = "SYS.Timeout";
/// The call trapped, hit its memory limit, or failed inside the runtime.
pub const FAIL: &str = "SYS.Fail";
/// The function has `max-instances` busy and its wait queue is full or timed out.
pub const BUSY: &str = "SYS.Busy";
/// The input does not fit what the function accepts.
pub const INVALID_PARAMETER: &str = "SYS.InvalidParameter";
/// The function tried something its sandbox forbids.
pub const PERMISSION: &str = "SYS.Permission";
/// A filter selects nothing or cannot be applied.
pub const FILTER_ERROR: &str = "SYS.FilterError";
/// The draft's code that matches any error.
pub const MATCH_ANY: &str = "SYS.MatchAny";
