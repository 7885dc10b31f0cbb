using System.CommandLine;
using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using AssocConv.Benchmarking;
using AssocConv.Data;
using AssocConv.Distributed;
using AssocConv.Models;
using AssocConv.Tensors;

namespace AssocConv.Cli;

/// <summary><c>assocconv bench</c>: plain and associative models measured side by side in one process.</summary>
internal static class BenchCommand
{
    public static Command Create(Func<bool, Terminal> terminal)
    {
        var models = new Option<string>("--models") { Description = "Comma-separated model names",
            DefaultValueFactory = _ => "resnet20,resnet56,densenet-bc-40-36" };
        var data = new DataArguments(required: false);
        var repetitions = new Option<int>("--repetitions") { Description = "Repetitions of each timing (at least 5 " +
            "for the README)", DefaultValueFactory = _ => 5 };
        var steps = new Option<int>("--steps") { Description = "Steps timed per repetition",
            DefaultValueFactory = _ => 3 };
        var rounds = new Option<int>("--rounds") { Description = "Rounds of training steps whose resident " +
            "memory is compared", DefaultValueFactory = _ => 3 };
        var roundSteps = new Option<int>("--round-steps") { Description = "Training steps per memory round",
            DefaultValueFactory = _ => 50 };
        var batch = new Option<int>("--batch-size") { Description = "Images per batch",
            DefaultValueFactory = _ => 128 };
        var format = CommonOptions.MemoryFormat();
        var sweep = new Option<bool>("--sweep")
        {
            Description = "Instead: training images/s under every combination of threads (1 to --max-threads), both " +
                "memory formats (whatever --memory-format says) and oneDNN on/off, to find the fastest settings",
        };
        var maxThreads = new Option<int>("--max-threads") { Description = "Most threads the sweep tries",
            DefaultValueFactory = _ => Environment.ProcessorCount };
        var minThreads = new Option<int>("--min-threads") { Description = "Fewest threads the sweep tries",
            DefaultValueFactory = _ => 1 };
        var precisions = new Option<string>("--precisions")
        {
            Description = "Comma-separated types the sweep computes convolutions in: float32, bf16 (see " +
                "train --precision)",
            DefaultValueFactory = _ => MixedPrecision.Float32Name,
        };
        var onnx = new Option<bool>("--onnx")
        {
            Description = "Instead: the associative model's inference images/s at batch 1 and --batch-size on " +
                "libtorch (cached kernels, materialized) and ONNX Runtime (kernels baked in, generator form), " +
                "side by side",
        };
        var distributed = new Option<bool>("--distributed")
        {
            Description = "Instead, under mpirun: data-parallel training steps of the plain and the associative " +
                "model, compute time, all-reduce time and bytes per rank",
        };
        var json = CommonOptions.Json();
        var command = new Command("bench",
            "Measure plain and associative models side by side: training and inference images/s, kernel generation, " +
                "memory, data pipeline, FLOP rate");
        foreach (var o in new Option[] { models, repetitions, steps, rounds, roundSteps, batch, format, sweep,
            maxThreads, minThreads, precisions, onnx, distributed, json }) command.Options.Add(o);
        data.AddTo(command);
        command.SetAction(result =>
        {
            CommonOptions.ApplyRuntime(result);
            var term = terminal(result.GetValue(json));
            var names = result.GetValue(models)!.Split(',',
                StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            foreach (var name in names) ModelZoo.Get(name);   // unknown names fail before any work
            if (result.GetValue(repetitions) < 1 || result.GetValue(steps) < 1 || result.GetValue(rounds) < 1
                || result.GetValue(roundSteps) < 1 || result.GetValue(batch) < 1)
                throw new UsageException("--repetitions, --steps, --rounds, --round-steps and --batch-size " +
                    "must be at least 1");
            var memoryFormat = CommonOptions.ReadMemoryFormat(result, format);
            if (result.GetValue(sweep)
                && (result.GetValue(minThreads) < 1 || result.GetValue(maxThreads) < result.GetValue(minThreads)))
                throw new UsageException("--min-threads must be at least 1 and --max-threads at least --min-threads");
            ComputePrecision[] swept;
            try
            {
                swept = [.. result.GetValue(precisions)!.Split(',',
                    StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
                    .Select(MixedPrecision.Parse).Distinct()];
            }
            catch (ArgumentException e) { throw new UsageException($"--precisions: {e.Message}"); }
            using var dataset = data.Spec(result) is { } spec ? DataArguments.Load(spec, term) : null;
            var options = new BenchmarkOptions
            {
                BatchSize = result.GetValue(batch), Repetitions = result.GetValue(repetitions),
                    Steps = result.GetValue(steps),
                MemoryRounds = result.GetValue(rounds), StepsPerRound = result.GetValue(roundSteps), Data = dataset,
                MemoryFormat = memoryFormat,
            };
            if (result.GetValue(distributed))
            {
                using var world = MpiWorld.Start();
                var rows = names.SelectMany(name => DistributedBenchmark.Run(world, name, options,
                    world.IsRoot ? what => term.Error.WriteLine($"{name}: {what}") : null)).ToList();
                if (!world.IsRoot) return ExitCodes.Success;   // rank 0 alone reports
                if (result.GetValue(json))
                    term.Out.WriteLine(new JsonArray(rows.Select(r => (JsonNode)new JsonObject
                    {
                        ["model"] = r.Model, ["variant"] = r.Variant, ["ranks"] = r.Ranks, ["batch_size"] = r.BatchSize,
                        ["threads"] = TorchSharp.torch.get_num_threads(), ["trainable"] = r.Trainable,
                        ["bytes_per_rank"] = r.BytesPerRank, ["compute_ms"] = M(r.ComputeMilliseconds),
                        ["wait_ms"] = M(r.WaitMilliseconds),
                        ["allreduce_ms"] = M(r.AllreduceMilliseconds), ["parameters_identical"] = r.ParametersIdentical,
                    }).ToArray()).ToJsonString(new() { WriteIndented = true }));
                else
                    term.Out.Write(DistributedMarkdown(rows, options));
                return ExitCodes.Success;
            }
            if (result.GetValue(onnx))
            {
                var onnxResults = names.SelectMany(name => OnnxInferenceBenchmark.Run(name, options,
                    what => term.Error.WriteLine($"{name}: {what}"))).ToList();
                if (result.GetValue(json))
                    term.Out.WriteLine(new JsonArray(onnxResults.Select(r => (JsonNode)new JsonObject
                    {
                        ["model"] = r.Model, ["batch_size"] = r.BatchSize,
                        ["threads"] = TorchSharp.torch.get_num_threads(), ["libtorch_cached"] = M(r.LibtorchCached),
                        ["libtorch_materialized"] = M(r.LibtorchMaterialized),
                        ["onnx_materialized"] = M(r.OnnxMaterialized), ["onnx_generator"] = M(r.OnnxGenerator),
                    }).ToArray()).ToJsonString(new() { WriteIndented = true }));
                else
                    term.Out.Write(OnnxMarkdown(onnxResults, options));
                return ExitCodes.Success;
            }
            if (result.GetValue(sweep))
            {
                var settings = SettingsSweep.AllSettings(result.GetValue(maxThreads), result.GetValue(minThreads),
                    swept);
                var sweepResults = names.SelectMany(name => SettingsSweep.Run(name, options, settings,
                    what => term.Error.WriteLine($"{name} sweep: {what}"))).ToList();
                if (result.GetValue(json))
                    term.Out.WriteLine(new JsonArray(sweepResults.Select(r =>
                        (JsonNode)ToJson(r, options)).ToArray()).ToJsonString(new() { WriteIndented = true }));
                else
                    term.Out.Write(Markdown(sweepResults, options));
                return ExitCodes.Success;
            }
            var results = new List<ModelBenchmarkResult>();
            foreach (var name in names)
                results.Add(ModelBenchmark.Run(name, options, what => term.Error.WriteLine($"{name}: {what}")));
            if (result.GetValue(json))
                term.Out.WriteLine(new JsonArray(results.Select(r =>
                    (JsonNode)ToJson(r, options)).ToArray()).ToJsonString(new() { WriteIndented = true }));
            else
                term.Out.Write(Markdown(results, options));
            return ExitCodes.Success;
        });
        return command;
    }

    private static string DistributedMarkdown(IReadOnlyList<DistributedStepResult> rows, BenchmarkOptions o)
    {
        var sb = new System.Text.StringBuilder();
        sb.AppendLine($"Data-parallel training steps, {rows.FirstOrDefault()?.Ranks} ranks, global batch " +
            $"{o.BatchSize}, {TorchSharp.torch.get_num_threads()} threads per rank; rank 0's medians of {o.Steps} " +
            "steps (min-max).");
        sb.AppendLine();
        sb.AppendLine("| model | variant | trainable | bytes per rank and step | compute ms | waiting for the other " +
            "ranks ms | all-reduce ms | parameters identical on all ranks |");
        sb.AppendLine("|---|---|---:|---:|---:|---:|---:|---|");
        static string S(Measurement m) => $"{m.Median:F1} ({m.Min:F1}-{m.Max:F1})";
        foreach (var r in rows)
            sb.AppendLine($"| {r.Model} | {r.Variant} | {r.Trainable:N0} | {r.BytesPerRank:N0} | " +
                $"{S(r.ComputeMilliseconds)} | {S(r.WaitMilliseconds)} | {S(r.AllreduceMilliseconds)} | " +
                $"{(r.ParametersIdentical ? "yes" : "NO")} |");
        return sb.ToString();
    }

    private static string OnnxMarkdown(IReadOnlyList<OnnxInferenceResult> results, BenchmarkOptions o)
    {
        var sb = new System.Text.StringBuilder();
        sb.AppendLine($"Inference images/s of the associative model, {TorchSharp.torch.get_num_threads()} threads, " +
            $"medians of {o.Repetitions} interleaved repetitions of {o.Steps} steps (min-max in brackets).");
        sb.AppendLine();
        sb.AppendLine("| model | batch | libtorch, cached kernels | libtorch, materialized | ONNX Runtime, baked | " +
            "ONNX Runtime, generator form | ONNX Runtime baked / libtorch cached |");
        sb.AppendLine("|---|---:|---:|---:|---:|---:|---:|");
        static string S(Measurement m) => $"{m.Median:F0} ({m.Min:F0}-{m.Max:F0})";
        foreach (var r in results)
            sb.AppendLine($"| {r.Model} | {r.BatchSize} | {S(r.LibtorchCached)} | {S(r.LibtorchMaterialized)} | " +
                $"{S(r.OnnxMaterialized)} | {S(r.OnnxGenerator)} | " +
                $"{r.OnnxMaterialized.Median / r.LibtorchCached.Median:F2}x |");
        return sb.ToString();
    }

    private static JsonObject M(Measurement m) => new()
    {
        ["median"] = Math.Round(m.Median, 3), ["min"] = Math.Round(m.Min, 3), ["max"] = Math.Round(m.Max, 3),
        ["samples"] = new JsonArray(m.Samples.Select(s => (JsonNode)Math.Round(s, 3)).ToArray()),
    };

    internal static JsonObject ToJson(ModelBenchmarkResult r, BenchmarkOptions o) => new()
    {
        ["model"] = r.Model,
        ["generator"] = r.Generator,
        ["batch_size"] = o.BatchSize,
        ["repetitions"] = o.Repetitions,
        ["memory_format"] = r.Runtime.MemoryFormat.Name(),
        ["threads"] = r.Runtime.Threads,
        ["allocator"] = r.Runtime.Allocator,
        ["omp_wait_policy"] = Environment.GetEnvironmentVariable("OMP_WAIT_POLICY"),
        ["train_images_per_s_plain"] = Math.Round(r.Training.Plain.Median, 2),
        ["train_images_per_s_associative"] = Math.Round(r.Training.Associative.Median, 2),
        ["train_step_ratio"] = Math.Round(r.Training.StepRatio, 4),
        ["infer_images_per_s_plain"] = Math.Round(r.Inference.Plain.Median, 2),
        ["infer_images_per_s_cached"] = Math.Round(r.Inference.Cached.Median, 2),
        ["infer_images_per_s_materialized"] = Math.Round(r.Inference.Materialized.Median, 2),
        ["generation_share"] = Math.Round(r.Training.GenerationShare.Median, 4),
        ["data_images_per_s"] = Math.Round(r.Rates.DataImagesPerSecond.Median, 1),
        ["matmul_gflops"] = Math.Round(r.Rates.MatmulGflops, 2),
        ["train_gflops_plain"] = Math.Round(r.TrainGflopsPlain(), 2),
        ["train_gflops_associative"] = Math.Round(r.TrainGflopsAssociative(), 2),
        ["forward_gflops_per_image"] = Math.Round(r.Rates.ForwardFlopsPerImage / 1e9, 5),
        ["peak_rss_mb"] = Math.Round(r.Memory.PeakRssMb, 1),
        ["steady_rss_mb"] = Math.Round(r.Memory.SteadyRssMb, 1),
        ["rss_after_rounds_mb"] =
            new JsonArray(r.Memory.RssAfterRoundsMb.Select(v => (JsonNode)Math.Round(v, 1)).ToArray()),
        ["rss_growth_mb_per_round"] = Math.Round(r.Memory.RssGrowthMbPerRound, 2),
        ["page_faults_per_step"] = double.IsNaN(r.Memory.PageFaultsPerStep) ? null
            : Math.Round(r.Memory.PageFaultsPerStep, 1),
        ["parameters_plain"] = r.Parameters.Plain,
        ["parameters_associative"] = r.Parameters.Associative,
        ["detail"] = new JsonObject
        {
            ["train_plain"] = M(r.Training.Plain), ["train_associative"] = M(r.Training.Associative),
            ["infer_plain"] = M(r.Inference.Plain), ["infer_cached"] = M(r.Inference.Cached),
            ["infer_materialized"] = M(r.Inference.Materialized),
            ["generation_share"] = M(r.Training.GenerationShare), ["data"] = M(r.Rates.DataImagesPerSecond),
        },
    };

    internal static JsonObject ToJson(SettingResult r, BenchmarkOptions o) => new()
    {
        ["model"] = r.Model,
        ["threads"] = r.Setting.Threads,
        ["memory_format"] = r.Setting.MemoryFormat.Name(),
        ["onednn"] = r.Setting.OneDnn,
        ["precision"] = r.Setting.Precision.Name(),
        ["batch_size"] = o.BatchSize,
        ["repetitions"] = o.Repetitions,
        ["train_images_per_s_plain"] = Math.Round(r.TrainPlain.Median, 2),
        ["train_images_per_s_associative"] = Math.Round(r.TrainAssociative.Median, 2),
        ["train_step_ratio"] = Math.Round(r.TrainPlain.Median / r.TrainAssociative.Median, 4),
        ["detail"] = new JsonObject { ["train_plain"] = M(r.TrainPlain),
    ["train_associative"] = M(r.TrainAssociative) }, };

    private static string F(double v, string format = "F0") => v.ToString(format, CultureInfo.InvariantCulture);
    private static string S(Measurement m) => $"{F(m.Median)} ({F(m.Min)}-{F(m.Max)})";

    /// <summary>A caption, a blank line and a Markdown table header; columns after <paramref name="leftColumns"/> align
    /// right.</summary>
    private static StringBuilder Table(string caption, int leftColumns, params string[] columns)
    {
        var sb = new StringBuilder().AppendLine(caption).AppendLine();
        sb.AppendLine($"| {string.Join(" | ", columns)} |");
        sb.AppendLine($"|{string.Join("|", columns.Select((_, i) => i < leftColumns ? "---" : "---:"))}|");
        return sb;
    }

    internal static string Markdown(IReadOnlyList<SettingResult> results, BenchmarkOptions o)
    {
        var sb = Table($"Training images/s, batch {o.BatchSize}, medians of {o.Repetitions} interleaved repetitions " +
            $"of {o.Steps} steps (min-max in brackets); fastest per model in bold.",
            5, "model", "threads", "memory format", "oneDNN", "precision", "train plain", "train assoc.",
                "step time assoc./plain");
        foreach (var group in results.GroupBy(r => r.Model))
        {
            var best = group.MaxBy(r => r.TrainPlain.Median + r.TrainAssociative.Median);
            foreach (var r in group)
            {
                string b = ReferenceEquals(r, best) ? "**" : "";
                sb.AppendLine($"| {r.Model} | {b}{r.Setting.Threads}{b} | {b}{r.Setting.MemoryFormat.Name()}{b} | " +
                    $"{b}{(r.Setting.OneDnn ? "on" : "off")}{b} | {b}{r.Setting.Precision.Name()}{b} | " +
                    $"{S(r.TrainPlain)} | {S(r.TrainAssociative)} | " +
                        $"{F(r.TrainPlain.Median / r.TrainAssociative.Median, "F3")}x |");
            }
        }
        return sb.ToString();
    }

    internal static string Markdown(IReadOnlyList<ModelBenchmarkResult> results, BenchmarkOptions o)
    {
        var sb = Table($"Batch {o.BatchSize}, {o.MemoryFormat.Name()}, {results.FirstOrDefault()?.Runtime.Threads} " +
            $"threads, {results.FirstOrDefault()?.Runtime.Allocator} malloc, medians of {o.Repetitions} interleaved " +
            $"repetitions of {o.Steps} steps (min-max in brackets); images/s.",
            1, "model", "train plain", "train assoc.", "step time assoc./plain", "infer plain", "infer cached",
                "infer materialized", "cached/plain time",
            "generation share", "data pipeline", "data / train", "matmul GFLOP/s", "train GFLOP/s (assoc.)",
                "of matmul", "peak RSS MiB", "RSS growth MiB/round", "page faults/step");
        foreach (var r in results)
        {
            var (train, infer, rates, memory) = (r.Training, r.Inference, r.Rates, r.Memory);
            sb.AppendLine($"| {r.Model} | {S(train.Plain)} | {S(train.Associative)} | {F(train.StepRatio, "F3")}x | " +
                $"{S(infer.Plain)} | {S(infer.Cached)} | {S(infer.Materialized)} | " +
                    $"{F(infer.Plain.Median / infer.Cached.Median, "F3")}x | " +
                $"{F(100 * train.GenerationShare.Median, "F1")}% | {F(rates.DataImagesPerSecond.Median)} | " +
                $"{F(rates.DataImagesPerSecond.Median / train.Associative.Median, "F1")}x | " +
                $"{F(rates.MatmulGflops, "F1")} | {F(r.TrainGflopsAssociative(), "F1")} | " +
                    $"{F(100 * r.TrainGflopsAssociative() / rates.MatmulGflops, "F0")}% | " +
                $"{F(memory.PeakRssMb)} | {F(memory.RssGrowthMbPerRound, "F1")} | {F(memory.PageFaultsPerStep)} |");
        }
        return sb.ToString();
    }
}
