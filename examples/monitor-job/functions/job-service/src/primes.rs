//! Counting primes in a range with a segmented sieve of Eratosthenes: the
//! range's composites are crossed out by the primes up to the square root of
//! its end, so a slice costs memory proportional to its own length only.

/// How many primes `p` satisfy `start <= p < end`.
pub fn count_in(start: u64, end: u64) -> u64 {
    let start = start.max(2);
    if end <= start {
        return 0;
    }
    let mut is_prime = vec![true; (end - start) as usize];
    for p in small_primes(integer_sqrt(end - 1)) {
        // Cross out p's multiples from p² on: smaller ones have a smaller factor.
        let first = (p * p).max(start.div_ceil(p) * p);
        let mut multiple = first;
        while multiple < end {
            is_prime[(multiple - start) as usize] = false;
            multiple += p;
        }
    }
    is_prime.iter().filter(|&&prime| prime).count() as u64
}

/// The primes up to and including `limit`, by a plain sieve.
fn small_primes(limit: u64) -> Vec<u64> {
    let limit = limit as usize;
    let mut composite = vec![false; limit + 1];
    let mut primes = Vec::new();
    for n in 2..=limit {
        if !composite[n] {
            primes.push(n as u64);
            let mut multiple = n * n;
            while multiple <= limit {
                composite[multiple] = true;
                multiple += n;
            }
        }
    }
    primes
}

fn integer_sqrt(n: u64) -> u64 {
    let mut root = (n as f64).sqrt() as u64;
    while root * root > n {
        root -= 1;
    }
    while (root + 1) * (root + 1) <= n {
        root += 1;
    }
    root
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_known_prime_totals() {
        assert_eq!(count_in(2, 10), 4);
        assert_eq!(count_in(2, 100), 25);
        assert_eq!(count_in(2, 100_000), 9_592);
        assert_eq!(count_in(0, 3), 1);
        assert_eq!(count_in(5, 5), 0);
    }

    #[test]
    fn slices_add_up_to_the_whole() {
        let whole = count_in(2, 1_000_000);
        let sliced: u64 = (0..20)
            .map(|i| count_in(2 + i * 50_000, (2 + (i + 1) * 50_000).min(1_000_000)))
            .sum();
        assert_eq!(whole, 78_498);
        assert_eq!(sliced, whole);
    }
}
