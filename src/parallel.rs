//! Work on many documents spread over the machine's cores, with scoped threads: loading,
//! merging and projecting a document is CPU work, and a batch of them would otherwise use one
//! core of a node that has several.

/// The number of threads that can run at once here (1 if unknown).
pub fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// `items.iter().map(work)`, in order, on up to one thread per core, the calling thread being
/// one of them. Each takes a contiguous share of at least `min_share` items, so a small batch
/// stays on the calling thread (starting a thread costs more than a few documents' work). A
/// panic in `work` is raised again here.
pub fn map_on_cores<T, R, F>(items: &[T], min_share: usize, work: F) -> Vec<R>
where
    T: Sync,
    R: Send,
    F: Fn(&T) -> R + Sync,
{
    let workers = cores().min(items.len().div_ceil(min_share.max(1)).max(1));
    if workers <= 1 {
        return items.iter().map(&work).collect();
    }
    let share = items.len().div_ceil(workers);
    let work = &work;
    std::thread::scope(|scope| {
        let mut parts = items.chunks(share);
        // The first share is worked on here, while the threads work on the others.
        let first = parts.next().unwrap_or_default();
        let others: Vec<_> = parts
            .map(|part| scope.spawn(move || part.iter().map(work).collect::<Vec<_>>()))
            .collect();
        let mut results: Vec<R> = first.iter().map(work).collect();
        for other in others {
            results.extend(
                other
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
            );
        }
        results
    })
}

#[cfg(test)]
mod tests {
    use super::map_on_cores;

    #[test]
    fn keeps_the_order_of_the_items_whatever_the_share() {
        let items: Vec<u32> = (0..1000).collect();
        for min_share in [0, 1, 7, 16, 999, 5000] {
            let doubled = map_on_cores(&items, min_share, |i| i * 2);
            assert_eq!(doubled, items.iter().map(|i| i * 2).collect::<Vec<_>>());
        }
        assert!(map_on_cores(&[] as &[u32], 16, |i| *i).is_empty());
    }

    #[test]
    #[should_panic(expected = "the last item")]
    fn a_panic_on_another_thread_is_raised_in_the_caller() {
        let items: Vec<u32> = (0..100).collect();
        map_on_cores(&items, 1, |i| {
            assert!(*i < 99, "the last item");
            *i
        });
    }
}
