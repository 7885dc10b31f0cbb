// Micro-benchmarks (BenchmarkDotNet). Run: dotnet run -c Release --project bench/AssocConv.Benchmarks -- --filter '*'
BenchmarkDotNet.Running.BenchmarkSwitcher.FromAssembly(typeof(AssocConv.Benchmarks.KernelGenerationBenchmark).Assembly)
    .Run(args);
