using System.CommandLine;
using System.Text.Json.Nodes;
using AssocConv.Csg;
using AssocConv.Data;
using AssocConv.Interop;
using AssocConv.Models;
using AssocConv.Onnx;
using AssocConv.Training;
using Spectre.Console;
using TorchSharp;

namespace AssocConv.Cli;

/// <summary><c>assocconv export</c>: a checkpoint as a PyTorch file under the reference's names, a compact file, or a
/// materialized plain model.</summary>
internal static class ExportCommand
{
    public static Command Create(Func<bool, Terminal> terminal)
    {
        var checkpoint = new Option<string>("--checkpoint") { Description = "An AssocConv checkpoint (from " +
            "train or import)", Required = true };
        var output = new Option<string>("--out") { Description = "The file to write", Required = true };
        var compact = new Option<bool>("--compact") { Description = "The compact AssocConv file: JSON header and the " +
            "weights that define the model, nothing else" };
        var fp16 = new Option<bool>("--fp16") { Description = "With --compact: store floating-point " +
            "tensors as float16" };
        var materialized = new Option<bool>("--materialized") { Description = "A torch.save file of the equivalent " +
            "plain model, generated kernels baked into ordinary convolutions" };
        var onnx = new Option<bool>("--onnx") { Description = "An ONNX file (opset 17) for ONNX Runtime, generated " +
            "kernels baked into ordinary convolutions" };
        var onnxGenerator = new Option<bool>("--onnx-generator") { Description = "An ONNX file that keeps the " +
            "generator and the codes and builds each kernel in the graph: as small as --compact" };
        var json = CommonOptions.Json();
        var command = new Command("export",
            "Write a checkpoint as a torch.save file under the reference implementation's names (default), as a " +
                "compact file, materialized, or as ONNX");
        foreach (var o in new Option[] { checkpoint, output, compact, fp16, materialized, onnx, onnxGenerator,
            json }) command.Options.Add(o);
        command.SetAction(result =>
        {
            CommonOptions.ApplyRuntime(result);
            var term = terminal(result.GetValue(json));
            bool isCompact = result.GetValue(compact), isMaterialized = result.GetValue(materialized),
                half = result.GetValue(fp16);
            bool isOnnx = result.GetValue(onnx), isOnnxGenerator = result.GetValue(onnxGenerator);
            if (new[] { isCompact, isMaterialized, isOnnx, isOnnxGenerator }.Count(b => b) > 1)
                throw new UsageException("--compact, --materialized, --onnx and --onnx-generator: choose one");
            if (half && !isCompact) throw new UsageException("--fp16 applies to --compact only");
            var path = result.GetValue(checkpoint)!;
            var (header, model) = Checkpoint.LoadModel(path);
            using var _ = model;
            var spec = ModelSpec.FromJson(header["model"]!);
            var outPath = result.GetValue(output)!;
            string kind;
            JsonObject? onnxCheck = null;
            if (isOnnx || isOnnxGenerator)
            {
                var data = header["data"] is null ? null : DataDescription.FromJson(header["data"], path);
                var form = isOnnxGenerator ? OnnxForm.Generator : OnnxForm.Materialized;
                (long, long, long) inputSize = data is null ? (spec.Options.InputChannels, 32, 32)
                    : (data.Channels, data.Height, data.Width);
                OnnxExport.Save(model, outPath, new OnnxExportOptions
                {
                    Form = form,
                    InputSize = inputSize,
                    Mean = data?.Normalization.Mean ?? [],
                    Std = data?.Normalization.Std ?? [],
                    ClassNames = data?.ClassNames.ToArray() ?? [],
                    Data = data?.Spec,
                    ModelDescription = spec.ToJson().ToJsonString(),
                });
                kind = isOnnxGenerator ? "ONNX, generator and codes" : "ONNX, kernels baked in";
                onnxCheck = CheckOnOnnxRuntime(model, outPath, inputSize);
            }
            else if (isCompact)
            {
                var compactHeader = new JsonObject
                {
                    ["format"] = "assocconv-compact",
                    ["version"] = 1,
                    ["model"] = spec.ToJson(),
                    ["data"] = header["data"]?.DeepClone(),
                    ["source"] = Path.GetFullPath(path),
                };
                Checkpoint.SaveCompact(outPath, compactHeader, model, half);
                kind = half ? "compact, float16" : "compact, float32";
            }
            else if (isMaterialized)
            {
                Materializer.Materialize(model);
                TorchFileWriter.Write(outPath, model.state_dict().Select(kv => (kv.Key, kv.Value)).ToList());
                kind = "materialized plain model, torch.save zip";
            }
            else
            {
                TorchFileWriter.Write(outPath, ReferenceCheckpoint.ReferenceStateDict(model));
                kind = "torch.save zip, reference names";
            }
            long bytes = new FileInfo(outPath).Length;
            long plainBytes = PlainStateDictBytes(spec);
            (result.GetValue(json) ? term.Error : term.Out).WriteLine(
                $"wrote {outPath} ({kind}): {bytes:N0} bytes; the plain model's full float32 state dict: " +
                    $"{plainBytes:N0} bytes ({(double)plainBytes / bytes:F2}x)");
            if (onnxCheck is not null)
                (result.GetValue(json) ? term.Error : term.Out).WriteLine(
                    $"ONNX Runtime loads it and answers its first batch in " +
                        $"{(double)onnxCheck["first_inference_ms"]!:F0} " +
                        $"ms; its outputs are within {(double)onnxCheck["relative_difference"]!:E1} of the model's " +
                        "(relative, random batch of 2)");
            if (result.GetValue(json))
                term.Out.WriteLine(new JsonObject
                {
                    ["file"] = outPath, ["kind"] = kind, ["bytes"] = bytes, ["plain_state_dict_bytes"] = plainBytes,
                    ["ratio"] = Math.Round((double)plainBytes / bytes, 4), ["onnx_runtime"] = onnxCheck,
                }.ToJsonString(new() { WriteIndented = true }));
            return ExitCodes.Success;
        });
        return command;
    }

    /// <summary>
    /// Loads the written file on ONNX Runtime and compares its outputs with the model's on a random batch; a file that
    /// does not reproduce the model is deleted and the export fails. Returns the first inference's latency (loading
    /// included: ONNX Runtime folds a generator file's kernels then) and the difference.
    /// </summary>
    private static JsonObject CheckOnOnnxRuntime(torch.nn.Module<torch.Tensor, torch.Tensor> model, string path,
        (long C, long H, long W) size)
    {
        using var generator = new torch.Generator(7);
        using var x = torch.randn(new[] { 2, size.C, size.H, size.W }, generator: generator);
        var watch = System.Diagnostics.Stopwatch.StartNew();
        float[] theirs;
        using (var onnx = OnnxModel.Load(path, torch.get_num_threads()))
            theirs = onnx.Run(x.data<float>().ToArray(), 2);
        double milliseconds = watch.Elapsed.TotalMilliseconds;
        model.eval();
        float[] ours;
        using (torch.no_grad())
        using (var logits = model.call(x))
            ours = logits.data<float>().ToArray();
        double scale = ours.Max(Math.Abs), worst = ours.Zip(theirs).Max(p => Math.Abs(p.First - p.Second));
        double difference = worst / Math.Max(scale, double.Epsilon);
        if (difference > 1e-4)
        {
            File.Delete(path);
            throw new InvalidOperationException($"ONNX Runtime's outputs differ from the model's by {difference:E1} " +
                $"(relative) on a random batch: {path} was not kept");
        }
        return new JsonObject { ["first_inference_ms"] = Math.Round(milliseconds, 1),
            ["relative_difference"] = difference };
    }

    /// <summary>Bytes of the plain counterpart's state dict (parameters and buffers) as TorchSharp writes it.</summary>
    private static long PlainStateDictBytes(ModelSpec spec)
    {
        using var plain = new ModelSpec(spec.Name, spec.Options with { Plain = true, Generator = null }).Build();
        using var stream = new MemoryStream();
        using (var writer = new BinaryWriter(stream, System.Text.Encoding.UTF8, leaveOpen: true)) plain.save(writer);
        return stream.Length;
    }
}
