using AssocConv.Data;
using AssocConv.Native;
using AssocConv.Models;
using AssocConv.Tensors;
using TorchSharp;
using static TorchSharp.torch;

namespace AssocConv.Benchmarking;

/// <summary>
/// One runtime setting the sweep tries: CPU threads, the batches' memory format, libtorch's oneDNN kernels and the
/// type convolutions compute in.
/// </summary>
public sealed record RuntimeSetting(int Threads, MemoryFormat MemoryFormat, bool OneDnn,
    ComputePrecision Precision = ComputePrecision.Float32)
{
    /// <summary>For tables: <c>2 threads, channels-last, oneDNN on, float32</c>.</summary>
    public override string ToString() =>
        $"{Threads} thread{(Threads == 1 ? "" : "s")}, {MemoryFormat.Name()}, oneDNN {(OneDnn ? "on" : "off")}, " +
            $"{Precision.Name()}";
}

/// <summary>Training throughput of one model's plain and associative variants under one setting.</summary>
public sealed record SettingResult(string Model, RuntimeSetting Setting, Measurement TrainPlain,
    Measurement TrainAssociative);

/// <summary>
/// Finds the fastest runtime settings: times the same plain and associative training steps under every
/// combination of threads, memory format and oneDNN, interleaved (each repetition visits every setting, the
/// order rotating), so that the settings are compared under the same conditions.
/// </summary>
public static class SettingsSweep
{
    /// <summary>
    /// Every combination of <paramref name="minThreads"/>..<paramref name="maxThreads"/> threads, both memory formats,
    /// oneDNN on/off (when the switch is reachable) and each of <paramref name="precisions"/> (default: float32).
    /// </summary>
    public static IReadOnlyList<RuntimeSetting> AllSettings(int maxThreads, int minThreads = 1,
        IReadOnlyList<ComputePrecision>? precisions = null)
    {
        if (minThreads < 1 || maxThreads < minThreads)
            throw new ArgumentException($"threads must be at least 1 and the most at least the fewest, got " +
                $"{minThreads} to {maxThreads}");
        var oneDnn = OneDnn.IsAvailable ? new[] { true, false } : new[] { true };
        return (from t in Enumerable.Range(minThreads, maxThreads - minThreads + 1)
                from f in new[] { MemoryFormat.Contiguous, MemoryFormat.ChannelsLast }
                from d in oneDnn
                from p in precisions ?? [ComputePrecision.Float32]
                select new RuntimeSetting(t, f, d, p)).ToList();
    }

    /// <summary>
    /// Training images/s of <paramref name="model"/> (plain and associative) under each of <paramref name="settings"/>.
    /// Threads and oneDNN are process-wide; both are restored afterwards. Precision is switched on the models in place
    /// (<see cref="MixedPrecision.Apply"/>); the same parameters and optimisers serve every setting.
    /// </summary>
    public static IReadOnlyList<SettingResult> Run(string model, BenchmarkOptions options,
        IReadOnlyList<RuntimeSetting> settings, Action<string>? progress = null)
    {
        ArgumentNullException.ThrowIfNull(settings);
        if (settings.Count == 0) throw new ArgumentException("no settings to sweep");
        if (settings.Any(s => !s.OneDnn) && !OneDnn.IsAvailable)
            throw new PlatformNotSupportedException("oneDNN cannot be switched off from this process");
        progress ??= _ => { };
        using var pair = new ModelPair(model, options);
        var batches = new Dictionary<MemoryFormat, Tensor>();
        foreach (var format in settings.Select(s => s.MemoryFormat).Distinct())
            batches[format] = ModelBenchmark.SampleBatch(options with { MemoryFormat = format }, pair.Channels,
                pair.Height, pair.Width);

        int threadsBefore = get_num_threads();
        bool? oneDnnBefore = OneDnn.IsAvailable ? OneDnn.Enabled : null;
        var samples = settings.Select(_ => (Plain: new List<double>(), Associative: new List<double>())).ToArray();
        try
        {
            void Apply(RuntimeSetting s)
            {
                set_num_threads(s.Threads);
                if (OneDnn.IsAvailable) OneDnn.Enabled = s.OneDnn;
                MixedPrecision.Apply(pair.Plain, s.Precision);
                MixedPrecision.Apply(pair.Associative, s.Precision);
                ConvolutionGuard.Protect(pair.Plain);
                ConvolutionGuard.Protect(pair.Associative);
            }

            progress("warming up");
            foreach (var s in settings)
            {
                Apply(s);
                pair.TrainPlain(batches[s.MemoryFormat]);
                pair.TrainAssociative(batches[s.MemoryFormat]);
            }
            for (int r = 0; r < options.Repetitions; r++)
            {
                progress($"repetition {r + 1} of {options.Repetitions}");
                for (int k = 0; k < settings.Count; k++)
                {
                    int i = (k + r) % settings.Count;   // rotate who goes first
                    var s = settings[i];
                    Apply(s);
                    var x = batches[s.MemoryFormat];
                    var (plainRate, associativeRate) = ModelBenchmark.RatePair(options,
                        () => pair.TrainPlain(x), () => pair.TrainAssociative(x), aFirst: r % 2 == 0);
                    samples[i].Plain.Add(plainRate);
                    samples[i].Associative.Add(associativeRate);
                }
            }
        }
        finally
        {
            set_num_threads(threadsBefore);
            if (oneDnnBefore is { } enabled) OneDnn.Enabled = enabled;
            foreach (var b in batches.Values) b.Dispose();
        }
        return settings.Select((s, i) => new SettingResult(pair.Entry.Name, s, new Measurement(samples[i].Plain),
            new Measurement(samples[i].Associative))).ToList();
    }
}
