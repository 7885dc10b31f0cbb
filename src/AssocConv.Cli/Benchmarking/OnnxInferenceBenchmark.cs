using AssocConv.Csg;
using AssocConv.Models;
using AssocConv.Native;
using AssocConv.Onnx;
using AssocConv.Tensors;
using TorchSharp;
using static TorchSharp.torch;

namespace AssocConv.Benchmarking;

/// <summary>Inference images per second of one batch size on both runtimes: libtorch with cached generated kernels and
/// materialized, ONNX Runtime with the kernels baked in and built from the generator.</summary>
public sealed record OnnxInferenceResult(string Model, int BatchSize, Measurement LibtorchCached,
    Measurement LibtorchMaterialized, Measurement OnnxMaterialized, Measurement OnnxGenerator);

/// <summary>
/// The associative model's inference on libtorch and on ONNX Runtime, side by side in one process, at batch 1
/// (latency) and at the benchmark's batch size (throughput): the four variants are timed in rotating order, <see
/// cref="BenchmarkOptions.Repetitions"/> times each, on the same threads.
/// </summary>
public static class OnnxInferenceBenchmark
{
    /// <summary>One result per batch size (1, then <see cref="BenchmarkOptions.BatchSize"/>).</summary>
    public static IReadOnlyList<OnnxInferenceResult> Run(string model, BenchmarkOptions options,
        Action<string>? progress = null)
    {
        progress ??= _ => { };
        var entry = ModelZoo.Get(model);
        long c = options.Data?.Train.Channels ?? 3, h = options.Data?.Train.Height ?? 32,
            w = options.Data?.Train.Width ?? 32;
        var modelOptions = new ModelOptions { InputChannels = (int)c, NumClasses = options.Data?.NumClasses ?? 10 };
        manual_seed(1);
        using var associative = entry.Build(modelOptions);
        using var materialized = entry.Build(modelOptions);
        materialized.load_state_dict(associative.state_dict());
        Materializer.Materialize(materialized);
        ConvolutionGuard.Protect(associative);
        ConvolutionGuard.Protect(materialized);
        associative.eval();
        materialized.eval();

        progress("exporting both ONNX forms");
        var folder = Directory.CreateTempSubdirectory("assocconv-bench-onnx-").FullName;
        try
        {
            OnnxModel Export(OnnxForm form)
            {
                var path = Path.Combine(folder, $"{form}.onnx");
                OnnxExport.Save(associative, path, new OnnxExportOptions { Form = form, InputSize = (c, h, w) });
                return OnnxModel.Load(path, get_num_threads());
            }
            using var onnxMaterialized = Export(OnnxForm.Materialized);
            using var onnxGenerator = Export(OnnxForm.Generator);
            var results = new List<OnnxInferenceResult>();
            foreach (int batch in new[] { 1, options.BatchSize }.Distinct())
            {
                progress($"inference at batch {batch}");
                using var x = randn(batch, c, h, w);
                using var laidOut = x.ToMemoryFormat(options.MemoryFormat);
                var floats = x.data<float>().ToArray();
                Action Torch(nn.Module<Tensor, Tensor> m) => () =>
                {
                    using var _ = no_grad();
                    using var y = m.call(laidOut);
                };
                Action Onnx(OnnxModel m) => () => m.Run(floats, batch);
                var actions = new[] { Torch(associative), Torch(materialized), Onnx(onnxMaterialized),
                    Onnx(onnxGenerator) };
                foreach (var a in actions) a();   // warm-up: kernel cache, ONNX Runtime's first run
                var rates = ModelBenchmark.Interleaved(options with { BatchSize = batch }, actions);
                results.Add(new OnnxInferenceResult(entry.Name, batch, rates[0], rates[1], rates[2], rates[3]));
            }
            return results;
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }
}
