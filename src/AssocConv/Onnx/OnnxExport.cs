using System.Globalization;
using System.Text.Json;
using AssocConv.Csg;
using AssocConv.Data;
using AssocConv.IO;
using Google.Protobuf;
using TorchSharp;
using static TorchSharp.torch;

namespace AssocConv.Onnx;

/// <summary>
/// Writes a model as an ONNX file for ONNX Runtime (opset 17, input <c>input</c> [batch, C, H, W] float32 normalised
/// as the metadata says, output <c>logits</c> [batch, classes], dynamic batch). Associative layers are written with
/// their kernels baked in or as generator and codes (<see cref="OnnxForm"/>). A module the exporter does not know is
/// refused by path before anything is written.
/// </summary>
public static class OnnxExport
{
    /// <summary>Metadata keys (<c>metadata_props</c>) every file carries.</summary>
    public const string LayoutKey = "input_layout", InputSizeKey = "input_size", MeanKey = "mean", StdKey = "std",
        ClassNamesKey = "class_names", ModelKey = "model", FormKey = "form", TrainableKey = "trainable_parameters",
        DataKey = "data";

    /// <summary>Names of the graph's input and output.</summary>
    public const string InputName = "input", OutputName = "logits";

    /// <summary>Writes <paramref name="model"/> to <paramref name="path"/> (atomically: the old file or the new
    /// one).</summary>
    /// <exception cref="OnnxExportException">The model holds a module the exporter cannot express.</exception>
    public static void Save(nn.Module<Tensor, Tensor> model, string path, OnnxExportOptions? options = null)
    {
        var bytes = ToBytes(model, options ?? new OnnxExportOptions());
        AtomicFile.Write(path, s => s.Write(bytes));
    }

    /// <summary>The ONNX file of <paramref name="model"/>, in memory.</summary>
    /// <exception cref="OnnxExportException">The model holds a module the exporter cannot express.</exception>
    /// <exception cref="ArgumentException">The options' normalisation or class names do not fit the model.</exception>
    public static byte[] ToBytes(nn.Module<Tensor, Tensor> model, OnnxExportOptions options)
    {
        if (options.Opset < 17) throw new ArgumentException($"opset {options.Opset}: the exporter writes 17 or newer");
        var (c, h, w) = options.InputSize;
        bool training = model.training;
        model.eval();
        try
        {
            long classes;
            using (no_grad())
            using (var probe = zeros(1, c, h, w))
            using (var logits = model.call(probe))
                classes = logits.shape[^1];
            CheckMetadata(options, classes);
            var graph = new OnnxGraphBuilder();
            var emitter = new OnnxEmitter(graph, options.Form);
            graph.Unique(InputName);
            string output;
            using (no_grad()) output = emitter.Emit(model, "", InputName);
            emitter.EnsureAllReached(model);
            output = graph.Node("Identity", OutputName, [output]);
            var metadata = new Dictionary<string, string>
            {
                [LayoutKey] = "NCHW",
                [InputSizeKey] = $"{c}x{h}x{w}",
                [MeanKey] = string.Join(",", options.Mean.Select(v => v.ToString("R", CultureInfo.InvariantCulture))),
                [StdKey] = string.Join(",", options.Std.Select(v => v.ToString("R", CultureInfo.InvariantCulture))),
                [ClassNamesKey] = JsonSerializer.Serialize(options.ClassNames),
                [FormKey] = options.Form == OnnxForm.Generator ? "generator" : "materialized",
                [TrainableKey] = ParameterReport.Of(model).Trainable.ToString(CultureInfo.InvariantCulture),
            };
            if (options.ModelDescription is { } description) metadata[ModelKey] = description;
            if (options.Data is { } data) metadata[DataKey] = data;
            return graph.Build(model.GetName(), InputName, (c, h, w), output, classes, options.Opset, metadata)
                .ToByteArray();
        }
        finally
        {
            model.train(training);
        }
    }

    // what OnnxModel would refuse to read is refused before it is written
    private static void CheckMetadata(OnnxExportOptions options, long classes)
    {
        if ((options.Mean.Count, options.Std.Count) != (0, 0)
            && Normalization.Problem(options.Mean, options.Std, options.InputSize.Channels) is { } problem)
            throw new ArgumentException(problem);
        if (options.ClassNames.Count != 0 && options.ClassNames.Count != classes)
            throw new ArgumentException($"{options.ClassNames.Count} class names for a model with {classes} outputs");
        if (options.ClassNames.Count != 0 && DisplayText.ClassNameProblem(options.ClassNames) is { } unfit)
            throw new ArgumentException(unfit);
    }
}
