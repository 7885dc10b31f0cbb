using System.Diagnostics;
using AssocConv.Csg;
using AssocConv.Data;
using AssocConv.Host;
using AssocConv.Models;
using AssocConv.Native;
using AssocConv.Tensors;
using TorchSharp;
using static TorchSharp.torch;

namespace AssocConv.Benchmarking;

/// <summary>How <see cref="ModelBenchmark.Run"/> measures.</summary>
public sealed record BenchmarkOptions
{
    /// <summary>Images per batch.</summary>
    public int BatchSize { get; init; } = 128;
    /// <summary>Repetitions of every timed measurement (variants interleaved, the order alternating).</summary>
    public int Repetitions { get; init; } = 5;
    /// <summary>Training or inference steps timed in one repetition.</summary>
    public int Steps { get; init; } = 3;
    /// <summary>Rounds of training steps whose resident memory is compared.</summary>
    public int MemoryRounds { get; init; } = 3;
    /// <summary>Training steps per memory round.</summary>
    public int StepsPerRound { get; init; } = 50;
    /// <summary>Real data to take batches and the input shape from; null for synthetic 3x32x32 batches.</summary>
    public Dataset? Data { get; init; }
    /// <summary>How the batches are laid out in memory (channels-last by default, as training).</summary>
    public MemoryFormat MemoryFormat { get; init; } = MemoryFormat.ChannelsLast;
}

/// <summary>What <see cref="ModelBenchmark.Run"/> measured for one model; throughputs in images per second.</summary>
public sealed record ModelBenchmarkResult(string Model, string Generator, TrainableParameters Parameters,
    TrainingSpeed Training, InferenceSpeed Inference, MemoryUse Memory, ComputeRates Rates, RuntimeSettings Runtime);

/// <summary>Trainable parameters of the two variants.</summary>
public sealed record TrainableParameters(long Plain, long Associative);

/// <summary>Training steps, images per second, and the share of the associative step spent generating
/// kernels.</summary>
public sealed record TrainingSpeed(Measurement Plain, Measurement Associative, Measurement GenerationShare)
{
    /// <summary>How much longer the associative step takes than the plain one.</summary>
    public double StepRatio => Plain.Median / Associative.Median;
}

/// <summary>Inference, images per second: plain, associative with cached kernels, materialized.</summary>
public sealed record InferenceSpeed(Measurement Plain, Measurement Cached, Measurement Materialized);

/// <summary>Resident memory over rounds of training steps, and minor page faults per step (NaN where not
/// counted).</summary>
public sealed record MemoryUse(double PeakRssMb, double SteadyRssMb, IReadOnlyList<double> RssAfterRoundsMb,
    double RssGrowthMbPerRound, double PageFaultsPerStep);

/// <summary>The machine's matrix-multiply rate, the data pipeline's throughput and the model's forward FLOPs.</summary>
public sealed record ComputeRates(double MatmulGflops, Measurement DataImagesPerSecond, double ForwardFlopsPerImage);

/// <summary>What the numbers were measured under.</summary>
public sealed record RuntimeSettings(MemoryFormat MemoryFormat, int Threads, string Allocator);

/// <summary>Effective training FLOP rates: 3x the forward FLOPs per image times images per second.</summary>
public static class ModelBenchmarkRates
{
    /// <summary>GFLOP/s of the associative model's training step.</summary>
    public static double TrainGflopsAssociative(this ModelBenchmarkResult r) =>
        3 * r.Rates.ForwardFlopsPerImage * r.Training.Associative.Median / 1e9;

    /// <summary>The same for the plain model.</summary>
    public static double TrainGflopsPlain(this ModelBenchmarkResult r) =>
        3 * r.Rates.ForwardFlopsPerImage * r.Training.Plain.Median / 1e9;
}

/// <summary>
/// Measures a zoo model's plain and associative variants side by side in one process: training and
/// inference throughput (plain, cached kernels, materialized), the share of a step spent generating
/// kernels, resident memory over rounds of training, the data pipeline's throughput and the machine's
/// matrix-multiply rate, each timed repeatedly with the variants interleaved.
/// </summary>
public static class ModelBenchmark
{
    /// <summary>Runs every measurement for <paramref name="model"/>; <paramref name="progress"/> hears what is being
    /// measured.</summary>
    public static ModelBenchmarkResult Run(string model, BenchmarkOptions options, Action<string>? progress = null)
    {
        progress ??= _ => { };
        using var pair = new ModelPair(model, options);
        var (entry, plain, associative) = (pair.Entry, pair.Plain, pair.Associative);
        using var materialized = entry.Build(pair.Options);
        materialized.load_state_dict(associative.state_dict());
        Materializer.Materialize(materialized);
        ConvolutionGuard.Protect(materialized);
        long plainParameters = ParameterReport.Of(plain).Trainable,
            associativeParameters = ParameterReport.Of(associative).Trainable;
        double flops = FlopCounter.ForwardFlopsPerImage(plain, pair.Channels, pair.Height, pair.Width);
        using var x = SampleBatch(options, pair.Channels, pair.Height, pair.Width);

        progress("warming up");
        for (int i = 0; i < 2; i++) { pair.TrainPlain(x); pair.TrainAssociative(x); }
        double steady = ProcessMemory.ResidentBytes() / 1048576.0;

        progress("training throughput");
        var (trainPlain, trainAssociative) = Interleaved(options,
            () => pair.TrainPlain(x), () => pair.TrainAssociative(x));

        progress("kernel generation");
        var layers = associative.modules().OfType<AssociativeConv2d>().ToList();
        var generationSeconds = new List<double>();
        for (int r = 0; r < options.Repetitions; r++)
        {
            pair.ZeroAssociativeGradients();
            var watch = Stopwatch.StartNew();
            using (var scope = NewDisposeScope())
            using (layers[0].Generator.GenerateTogether(layers))   // as the zoo models' forward does
            {
                var total = layers.Select(l => l.GenerateKernel().sum()).Aggregate((a, b) => a + b);
                total.backward();
            }
            generationSeconds.Add(watch.Elapsed.TotalSeconds);
        }
        pair.ZeroAssociativeGradients();
        double stepSeconds = options.BatchSize / trainAssociative.Median;
        var share = new Measurement(generationSeconds.Select(s => s / stepSeconds).ToList());

        progress("inference throughput");
        plain.eval();
        associative.eval();
        materialized.eval();
        Measurement inferPlain, inferCached, inferMaterialized;
        using (no_grad())
        {
            void Infer(nn.Module<Tensor, Tensor> m) { using var _ = m.call(x); }
            Infer(associative);   // builds the kernel cache
            Infer(materialized);
            var rates = Interleaved(options, () => Infer(plain), () => Infer(associative), () => Infer(materialized));
            (inferPlain, inferCached, inferMaterialized) = (rates[0], rates[1], rates[2]);
        }

        progress("resident memory over training rounds");
        associative.train();
        var rounds = new List<double>();
        long faultsBefore = ProcessMemory.MinorPageFaults();
        for (int round = 0; round < options.MemoryRounds; round++)
        {
            for (int i = 0; i < options.StepsPerRound; i++) pair.TrainAssociative(x);
            rounds.Add(ProcessMemory.ResidentBytes() / 1048576.0);
        }
        double growth = rounds.Count > 1 ? (rounds[^1] - rounds[0]) / (rounds.Count - 1) : 0;
        double faultsPerStep = faultsBefore < 0 ? double.NaN
            : (ProcessMemory.MinorPageFaults() - faultsBefore) / (double)(options.MemoryRounds * options.StepsPerRound);

        progress("data pipeline");
        var dataRate = DataThroughput(options, pair.Channels, pair.Height, pair.Width, pair.Options.NumClasses ?? 10);

        progress("matrix multiply");
        double matmul = MatmulGflops();
        return new ModelBenchmarkResult(entry.Name, entry.DefaultGenerator.Describe(),
            new TrainableParameters(plainParameters, associativeParameters),
            new TrainingSpeed(trainPlain, trainAssociative, share),
            new InferenceSpeed(inferPlain, inferCached, inferMaterialized),
            new MemoryUse(ProcessMemory.PeakResidentBytes() / 1048576.0, steady, rounds, growth, faultsPerStep),
            new ComputeRates(matmul, dataRate, flops),
            new RuntimeSettings(options.MemoryFormat, get_num_threads(), NativeAllocator.Name));
    }

    /// <summary>One batch in <see cref="BenchmarkOptions.MemoryFormat"/>: the first of the real data's training
    /// pipeline, or synthetic.</summary>
    internal static Tensor SampleBatch(BenchmarkOptions o, long c, long h, long w)
    {
        if (o.Data is null)
        {
            using var synthetic = randn(o.BatchSize, c, h, w);
            return synthetic.ToMemoryFormat(o.MemoryFormat);
        }
        var pipeline = new BatchPipeline(o.Data.Train, o.Data.Normalization, o.BatchSize, shuffle: true, augment: true,
            seed: 1, format: o.MemoryFormat);
        using var batch = pipeline.Epoch(0).First();
        return batch.Images.clone();
    }

    /// <summary>Images per second of two actions, timed in alternating order, <see
    /// cref="BenchmarkOptions.Repetitions"/> times.</summary>
    private static (Measurement A, Measurement B) Interleaved(BenchmarkOptions o, Action a, Action b)
    {
        var (ra, rb) = (new List<double>(), new List<double>());
        for (int r = 0; r < o.Repetitions; r++)
        {
            var (x, y) = RatePair(o, a, b, aFirst: r % 2 == 0);
            ra.Add(x);
            rb.Add(y);
        }
        return (new Measurement(ra), new Measurement(rb));
    }

    /// <summary>The rates of <paramref name="a"/> and <paramref name="b"/>, timed one after the other in the order
    /// given.</summary>
    internal static (double A, double B) RatePair(BenchmarkOptions o, Action a, Action b, bool aFirst)
    {
        if (aFirst)
        {
            double ra = Rate(o, a);
            return (ra, Rate(o, b));
        }
        double rb = Rate(o, b);
        return (Rate(o, a), rb);
    }

    /// <summary>Images per second of each action, <see cref="BenchmarkOptions.Repetitions"/> times, in rotating
    /// order so that none always runs first.</summary>
    internal static Measurement[] Interleaved(BenchmarkOptions o, params Action[] actions)
    {
        var results = actions.Select(_ => new List<double>()).ToArray();
        for (int r = 0; r < o.Repetitions; r++)
            for (int k = 0; k < actions.Length; k++)
            {
                int i = (k + r) % actions.Length;   // rotate who goes first
                results[i].Add(Rate(o, actions[i]));
            }
        return results.Select(samples => new Measurement(samples)).ToArray();
    }

    private static double Rate(BenchmarkOptions o, Action step)
    {
        var watch = Stopwatch.StartNew();
        for (int s = 0; s < o.Steps; s++) step();
        return o.Steps * o.BatchSize / watch.Elapsed.TotalSeconds;
    }

    private static Measurement DataThroughput(BenchmarkOptions o, long c, long h, long w, int classes)
    {
        LabeledImages images;
        Normalization normalization;
        bool own = o.Data is null;
        if (o.Data is { } data) { images = data.Train; normalization = data.Normalization; }
        else
        {
            images = new LabeledImages(randint(0, 256, new[] { 20 * o.BatchSize, c, h, w }).to(ScalarType.Byte),
                randint(0, classes, new long[] { 20 * o.BatchSize }),
                    Enumerable.Range(0, classes).Select(i => i.ToString()).ToArray());
            normalization = new Normalization(Enumerable.Repeat(0.5, (int)c).ToArray(),
                Enumerable.Repeat(0.25, (int)c).ToArray());
        }
        try
        {
            var rates = new List<double>();
            for (int r = 0; r < o.Repetitions; r++)
            {
                var pipeline = new BatchPipeline(images, normalization, o.BatchSize, shuffle: true, augment: true,
                    seed: r, format: o.MemoryFormat);
                long seen = 0;
                var watch = Stopwatch.StartNew();
                foreach (var batch in pipeline.Epoch(0).Take(20))
                    using (batch) seen += batch.Size;
                rates.Add(seen / watch.Elapsed.TotalSeconds);
            }
            return new Measurement(rates);
        }
        finally
        {
            if (own) images.Dispose();
        }
    }

    /// <summary>The machine's fp32 matrix-multiply rate: a 2048x2048 product, best of 5, 2n^3 FLOPs.</summary>
    public static double MatmulGflops()
    {
        const long n = 2048;
        using var a = randn(n, n);
        using var b = randn(n, n);
        using (a.mm(b)) { }
        double best = double.MaxValue;
        for (int i = 0; i < 5; i++)
        {
            var watch = Stopwatch.StartNew();
            using (a.mm(b)) { }
            best = Math.Min(best, watch.Elapsed.TotalSeconds);
        }
        return 2.0 * n * n * n / best / 1e9;
    }
}
