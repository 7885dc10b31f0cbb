// Tests share libtorch's global RNG and thread pool, and one test measures the process's
// resident memory: run them one at a time.
[assembly: CollectionBehavior(DisableTestParallelization = true)]
