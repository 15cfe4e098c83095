//! A static bound on the work one compiled query can do, read off
//! jsonpath-rust's AST before the query is ever evaluated.
//!
//! jsonpath-rust evaluates naively. A union applies each of its selectors to
//! a fresh copy of every node before it and keeps every match, so
//! `$[0,0][0,0]` reaches the same node four times, and every later segment
//! and every filter runs once per copy. A filter also runs its queries once
//! per candidate node, so a root query in a filter that selects many nodes
//! (`$.items[?count($.items[*]) > 0]`) costs the square of the data. All of
//! this is visible in the query's text, so [`of_path`] and [`of_condition`]
//! measure it here, and `expression.rs` refuses the query at load when it is
//! over its limits.
//!
//! Two measures, both conservative and both multiplied into the queries of
//! every filter (which run once per copy of their candidate):
//! - copies: per segment, every selector that may pick the same child counts
//!   (a wildcard, slice, filter or negative index may pick any child; equal
//!   names or equal non-negative indexes pick theirs once each; distinct names
//!   or indexes never pick the same child), and the counts multiply from
//!   segment to segment;
//! - passes: per segment that starts from many nodes (after a wildcard,
//!   slice, filter, union or descendant segment, or in a filter that runs per
//!   candidate), its selectors times the copies of those nodes, each selector
//!   being one pass over them. A union applied to one node (`$.a[0,1,2]`)
//!   costs its length once, which the text's own length already bounds.

use std::collections::HashMap;

use jsonpath_rust::parser::model::{
    Comparable, Filter, FilterAtom, FnArg, Segment, Selector, Test, TestFunction,
};

/// What [`of_path`] or [`of_condition`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Cost {
    /// The most times any query in the expression can reach one node
    /// (saturating at `u64::MAX`).
    pub copies: u64,
    /// The most passes any one segment that starts from many nodes makes
    /// over the same node.
    pub passes: u64,
    /// A filter that runs once per candidate holds a root query that can
    /// select more than one node.
    pub plural_root_query_in_filter: bool,
}

/// How often a filter runs for one evaluation of the whole expression.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Runs {
    /// Once per candidate node: a filter selector of a path.
    PerCandidate,
    /// Once: a condition, whose only candidate is the state data.
    Once,
}

/// The cost of a path (`$.a[?@.b > 1]`), given its segments.
pub(super) fn of_path(segments: &[Segment]) -> Cost {
    let mut walk = Walk::default();
    walk.query(segments, 1, false);
    walk.cost
}

/// The cost of a condition, given the filter it compiles to: the filter runs
/// once, so a root query directly in it is no more costly than a path.
pub(super) fn of_condition(filter: &Filter) -> Cost {
    let mut walk = Walk::default();
    walk.filter(filter, 1, Runs::Once);
    walk.cost
}

/// True when `segments` select at most one node (RFC 9535 §2.3.5.1).
pub(super) fn is_singular(segments: &[Segment]) -> bool {
    segments.iter().all(|segment| {
        matches!(
            segment,
            Segment::Selector(Selector::Name(_)) | Segment::Selector(Selector::Index(_))
        )
    })
}

#[derive(Default)]
struct Walk {
    cost: Cost,
}

impl Default for Cost {
    fn default() -> Self {
        Cost {
            copies: 1,
            passes: 1,
            plural_root_query_in_filter: false,
        }
    }
}

impl Walk {
    /// A query whose starting node is already reached `copies` times;
    /// `fanned_out` when the query starts from many nodes at once.
    fn query(&mut self, segments: &[Segment], mut copies: u64, mut fanned_out: bool) {
        for segment in segments {
            // A filter in this segment runs once per copy of each parent.
            self.filters_of(segment, copies);
            // A descendant segment applies its selectors to every node below.
            if fanned_out || matches!(segment, Segment::Descendant(_)) {
                let passes = copies.saturating_mul(selectors(segment));
                self.cost.passes = self.cost.passes.max(passes);
            }
            fanned_out |= !is_singular(std::slice::from_ref(segment));
            copies = copies.saturating_mul(segment_copies(segment));
        }
        self.cost.copies = self.cost.copies.max(copies);
    }

    fn filters_of(&mut self, segment: &Segment, copies: u64) {
        match segment {
            Segment::Descendant(inner) => self.filters_of(inner, copies),
            Segment::Selector(selector) => self.selector(selector, copies),
            Segment::Selectors(selectors) => {
                for selector in selectors {
                    self.selector(selector, copies);
                }
            }
        }
    }

    fn selector(&mut self, selector: &Selector, copies: u64) {
        if let Selector::Filter(filter) = selector {
            self.filter(filter, copies, Runs::PerCandidate);
        }
    }

    fn filter(&mut self, filter: &Filter, copies: u64, runs: Runs) {
        match filter {
            Filter::Or(filters) | Filter::And(filters) => {
                for filter in filters {
                    self.filter(filter, copies, runs);
                }
            }
            Filter::Atom(FilterAtom::Filter { expr, .. }) => self.filter(expr, copies, runs),
            Filter::Atom(FilterAtom::Test { expr, .. }) => self.test(expr, copies, runs),
            Filter::Atom(FilterAtom::Comparison(comparison)) => {
                let (left, right) = comparison.vals();
                for side in [left, right] {
                    // Literals and singular queries select at most one node.
                    if let Comparable::Function(function) = side {
                        self.function(function, copies, runs);
                    }
                }
            }
        }
    }

    fn test(&mut self, test: &Test, copies: u64, runs: Runs) {
        match test {
            // Across its candidates, a filter's relative query starts from
            // as many nodes as the filter visits.
            Test::RelQuery(segments) => self.query(segments, copies, runs == Runs::PerCandidate),
            Test::AbsQuery(query) => {
                if runs == Runs::PerCandidate && !is_singular(&query.segments) {
                    self.cost.plural_root_query_in_filter = true;
                }
                self.query(&query.segments, copies, false);
            }
            Test::Function(function) => self.function(function, copies, runs),
        }
    }

    fn function(&mut self, function: &TestFunction, copies: u64, runs: Runs) {
        let args: Vec<&FnArg> = match function {
            TestFunction::Length(arg) => vec![&**arg],
            TestFunction::Value(arg) | TestFunction::Count(arg) => vec![arg],
            TestFunction::Search(text, pattern) | TestFunction::Match(text, pattern) => {
                vec![text, pattern]
            }
            TestFunction::Custom(_, args) => args.iter().collect(),
        };
        for arg in args {
            match arg {
                FnArg::Literal(_) => {}
                FnArg::Test(test) => self.test(test, copies, runs),
                FnArg::Filter(filter) => self.filter(filter, copies, runs),
            }
        }
    }
}

/// How many selectors one segment applies to each node it starts from.
fn selectors(segment: &Segment) -> u64 {
    match segment {
        Segment::Descendant(inner) => selectors(inner),
        Segment::Selector(_) => 1,
        Segment::Selectors(selectors) => selectors.len() as u64,
    }
}

/// How many times one segment can select the same child of one node.
fn segment_copies(segment: &Segment) -> u64 {
    match segment {
        Segment::Descendant(inner) => segment_copies(inner),
        Segment::Selector(_) => 1,
        Segment::Selectors(selectors) => union_copies(selectors),
    }
}

/// Selectors that may pick any child count once each; names and
/// non-negative indexes pick only their own child, so only repeats of the
/// same one add up (a child is either a member or an element, never both).
fn union_copies(selectors: &[Selector]) -> u64 {
    let mut any_child = 0u64;
    let mut names: HashMap<&str, u64> = HashMap::new();
    let mut indexes: HashMap<i64, u64> = HashMap::new();
    for selector in selectors {
        match selector {
            Selector::Name(name) => *names.entry(name).or_default() += 1,
            Selector::Index(index) if *index >= 0 => *indexes.entry(*index).or_default() += 1,
            Selector::Index(_) | Selector::Wildcard | Selector::Slice(..) | Selector::Filter(_) => {
                any_child += 1
            }
        }
    }
    let repeats = names.values().chain(indexes.values()).max().copied();
    any_child.saturating_add(repeats.unwrap_or(0))
}
