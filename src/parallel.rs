//! Work on many documents spread over the machine's cores, with scoped threads: loading,
//! merging and projecting a document is CPU work, and a batch of them would otherwise use one
//! core of a node that has several.

/// The number of threads that can run at once here (1 if unknown).
pub fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// `items.iter().map(work)`, in order, on up to one thread per core; each thread takes a
/// contiguous share of at least `min_share` items, so a small batch stays on the calling thread
/// (starting a thread costs more than a few documents' work). A panic in `work` is raised again
/// here.
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
        let handles: Vec<_> = items
            .chunks(share)
            .map(|part| scope.spawn(move || part.iter().map(work).collect::<Vec<_>>()))
            .collect();
        handles
            .into_iter()
            .flat_map(|h| {
                h.join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })
            .collect()
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
}
