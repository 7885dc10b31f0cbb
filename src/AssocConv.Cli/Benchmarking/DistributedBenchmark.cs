using System.Diagnostics;
using AssocConv.Distributed;
using AssocConv.Models;
using AssocConv.Native;
using TorchSharp;
using static TorchSharp.torch;

namespace AssocConv.Benchmarking;

/// <summary>One variant's data-parallel step: the compute (forward and backward on this rank's share of the batch),
/// the gradient all-reduce, and the bytes each rank contributes to it.</summary>
public sealed record DistributedStepResult(string Model, string Variant, int Ranks, int BatchSize, long Trainable,
    long BytesPerRank, Measurement ComputeMilliseconds, Measurement WaitMilliseconds, Measurement AllreduceMilliseconds,
    bool ParametersIdentical);

/// <summary>
/// Times data-parallel training steps of a model's plain and associative variant under <c>mpirun</c>: each rank trains
/// on its share of one global batch (the same synthetic batch everywhere, cut by rank), gradients are averaged by
/// <see cref="GradientAverager"/>, and at the end every rank's parameters are compared with rank 0's, bit for bit.
/// </summary>
public static class DistributedBenchmark
{
    public static IReadOnlyList<DistributedStepResult> Run(MpiWorld world, string model, BenchmarkOptions options,
        Action<string>? progress = null)
    {
        progress ??= _ => { };
        if (options.BatchSize % world.Size != 0)
            throw new ArgumentException($"--batch-size {options.BatchSize} does not split over {world.Size} ranks");
        var entry = ModelZoo.Get(model);
        int share = options.BatchSize / world.Size;
        using var generator = new torch.Generator(11);   // the same global batch on every rank
        using var all = randn(new long[] { options.BatchSize, 3, 32, 32 }, generator: generator);
        using var allLabels = randint(0, 10, new long[] { options.BatchSize }, generator: generator);
        using var x = all.narrow(0, world.Rank * share, share).contiguous();
        using var labels = allLabels.narrow(0, world.Rank * share, share).contiguous();
        var results = new List<DistributedStepResult>();
        foreach (var plain in new[] { true, false })
        {
            var variant = plain ? "plain" : "associative";
            progress($"{variant}: {options.Steps} steps on {world.Size} ranks, {share} images each");
            manual_seed(1);
            using var net = entry.Build(new ModelOptions { Plain = plain });
            ConvolutionGuard.Protect(net);
            net.train();
            GradientAverager.BroadcastState(world, net);
            var averager = new GradientAverager(world, net);
            using var optimizer = optim.SGD(net.parameters(), 0.01, momentum: 0.9, weight_decay: 5e-4);
            var compute = new List<double>();
            var waiting = new List<double>();
            var exchange = new List<double>();
            for (int step = 0; step < options.Steps + 2; step++)   // two warm-up steps
            {
                using var scope = NewDisposeScope();
                var watch = Stopwatch.StartNew();
                optimizer.zero_grad();
                nn.functional.cross_entropy(net.call(x), labels).backward();
                double computed = watch.Elapsed.TotalMilliseconds;
                // the wait for the slowest rank apart, so that the all-reduce time is the exchange alone
                watch.Restart();
                world.Barrier();
                double waited = watch.Elapsed.TotalMilliseconds;
                watch.Restart();
                averager.Average();
                double exchanged = watch.Elapsed.TotalMilliseconds;
                optimizer.step();
                if (step < 2) continue;
                compute.Add(computed);
                waiting.Add(waited);
                exchange.Add(exchanged);
            }
            results.Add(new DistributedStepResult(entry.Name, variant, world.Size, options.BatchSize, averager.Count,
                averager.Bytes, new Measurement(compute), new Measurement(waiting), new Measurement(exchange),
                GradientAverager.ParametersIdentical(world, net)));
        }
        return results;
    }
}
